//! The execution plane: the Docker engine (containers, networks, images), the GPUs NVML reports,
//! the instance-type table and the emulator images. Services ask this layer to run things; nothing
//! here knows about SageMaker's wire shapes.

use clap::{Args, ValueEnum};

/// What happens when a job asks for GPUs and the host has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum GpuFallback {
    /// The job fails with a FailureReason saying no GPU was found.
    #[default]
    Fail,
    /// The job runs on CPU, with a warning in its log.
    Cpu,
}

/// Docker, GPU and image settings (flags and `SAGEBOX_*` variables).
#[derive(Debug, Clone, Default, Args)]
pub struct RuntimeOptions {
    /// What a GPU instance type does on a host without usable GPUs.
    #[arg(long, env = "SAGEBOX_GPU_FALLBACK", value_enum, default_value_t = GpuFallback::Fail)]
    pub gpu_fallback: GpuFallback,

    /// Let concurrent jobs share a GPU instead of waiting for a free one.
    #[arg(long, env = "SAGEBOX_GPU_SHARING", default_value_t = false)]
    pub gpu_sharing: bool,
}
