"""The GitHub App: a labelled issue (or a /repoagent fix comment) becomes a tested pull request."""
