"""Finding where to edit: parsing into symbols, the repository index, maps, retrieval and localization."""
