//! The model registry: model package groups and the versioned model packages inside them.
//! SKELETON: being written.
