//! Compile-time configuration, mirroring OpenVINO's CPU plugin properties.

/// What the compiled model should optimize for (`PERFORMANCE_HINT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PerformanceHint {
    /// One request at a time, all threads inside each request (`LATENCY`).
    #[default]
    Latency,
    /// Many requests in parallel, one thread each (`THROUGHPUT`).
    Throughput,
}

impl std::str::FromStr for PerformanceHint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "latency" => Ok(PerformanceHint::Latency),
            "throughput" | "tput" => Ok(PerformanceHint::Throughput),
            other => Err(format!("unknown performance hint '{other}' (expected latency or throughput)")),
        }
    }
}

/// Plugin configuration given to [`crate::compile_model`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Threads used for inference (`INFERENCE_NUM_THREADS`); `None` = available parallelism.
    pub inference_num_threads: Option<usize>,
    /// Latency or throughput (`PERFORMANCE_HINT`).
    pub performance_hint: PerformanceHint,
}

impl Config {
    /// The number of threads this configuration resolves to (at least 1).
    pub fn resolved_threads(&self) -> usize {
        self.inference_num_threads
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}
