//! Hosting: models, endpoint configurations (and, later, endpoints). Each operation checks the
//! rules SageMaker applies beyond the request model, then stores through `service::resources`.

mod endpoint_configs;
mod models;
