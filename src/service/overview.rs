//! What sagebox reports about itself: the health endpoint's subsystems, and the console's
//! dashboard (the Docker engine, the GPU pool, the emulator images, every resource of a kind).
//! The api and console layers render these; they reach neither the store nor the runtime.

use std::collections::HashMap;

use crate::runtime::engine::EngineInfo;
use crate::runtime::gpu::GpuReport;
use crate::runtime::images::ImageStatus;
use crate::service::Services;
use crate::service::described::{Listed, Record};
use crate::store::resources::{ListQuery, ResourceKind};

/// `GET /_sagebox/health`'s facts.
#[derive(Debug, Clone)]
pub struct Health {
    /// The store's schema version, or why it could not be read.
    pub store: Result<i64, String>,
    /// The Docker connection sagebox already has, as the runtime reports it; health never
    /// waits for Docker.
    pub docker: serde_json::Value,
    pub gpus: GpuReport,
    pub region: String,
    pub account_id: String,
    pub data_dir: String,
}

/// Whether the Docker engine answers, and what it says about itself.
#[derive(Debug)]
pub enum EngineState {
    Answering(EngineInfo),
    /// Connected once, but its info call failed.
    NotAnswering(String),
    Absent(String),
}

/// The GPUs sagebox found, and who holds each (by device UUID).
#[derive(Debug, Clone)]
pub struct GpuUse {
    pub report: GpuReport,
    pub holders: HashMap<String, String>,
}

/// The console lists at most this many resources of a kind.
const CONSOLE_LIMIT: usize = 500;

impl Services {
    pub async fn health(&self) -> Health {
        Health {
            store: self.store.schema_version().await.map_err(|e| e.to_string()),
            docker: self.runtime.engine_status(),
            gpus: self.gpu_use().report,
            region: self.config.region.clone(),
            account_id: self.config.account_id.clone(),
            data_dir: self.config.data_dir.display().to_string(),
        }
    }

    /// The GPU pool as it stands.
    pub fn gpu_use(&self) -> GpuUse {
        let pool = self.runtime.gpus.lock().unwrap_or_else(|e| e.into_inner());
        GpuUse {
            report: pool.report().clone(),
            holders: pool.holders().clone(),
        }
    }

    /// Asks the Docker engine about itself (connecting first if need be).
    pub async fn engine_state(&self) -> EngineState {
        match self.runtime.engine().await {
            Ok(engine) => match engine.info().await {
                Ok(info) => EngineState::Answering(info),
                Err(e) => EngineState::NotAnswering(e.to_string()),
            },
            Err(e) => EngineState::Absent(e.to_string()),
        }
    }

    /// Each emulator image and whether the engine has it built.
    pub async fn emulator_images(&self) -> Result<Vec<ImageStatus>, String> {
        let builder = self.runtime.images().await.map_err(|e| e.to_string())?;
        builder.list().await.map_err(|e| e.to_string())
    }

    /// Every resource of `kind` (up to the console's limit), newest first; a store error reads
    /// as none, since the console shows what it can.
    pub async fn every(&self, kind: ResourceKind) -> Vec<Listed> {
        let mut q = ListQuery::every(None);
        q.descending = true;
        q.limit = CONSOLE_LIMIT;
        self.store
            .list_resources(kind, q)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| Listed {
                record: Record::from(&r),
                status: r.status,
            })
            .collect()
    }
}
