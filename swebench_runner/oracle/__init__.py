"""The oracle: answer sheets made from gold patches, for end-to-end runs with a perfect model."""
