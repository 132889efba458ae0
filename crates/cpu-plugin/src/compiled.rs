//! Compiled models and inference requests.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ir_graph::{ElementType, Model, PartialShape, Tensor};

use crate::config::{Config, PerformanceHint};
use crate::error::{PluginError, Result};
use crate::kernels::ThreadPool;
use crate::plan::{Plan, Storage};
use crate::steps::{State, read_tensor};
use crate::{interp, lower};

/// Most shape-specialised plans kept per compiled model before the cache is reset.
const MAX_CACHED_PLANS: usize = 32;

/// Name, element type and shape of one model input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct PortInfo {
    /// Primary name: the first tensor name, or the node's friendly name when it has none.
    pub name: String,
    /// Every tensor name of the port.
    pub names: BTreeSet<String>,
    /// Friendly name of the Parameter / Result node.
    pub node_name: String,
    /// Element type.
    pub element_type: ElementType,
    /// Shape (possibly dynamic).
    pub shape: PartialShape,
}

impl PortInfo {
    /// Whether `name` is one of this port's tensor names or its node's friendly name.
    pub fn matches(&self, name: &str) -> bool {
        self.name == name || self.node_name == name || self.names.contains(name)
    }
}

/// Cache key of a shape-specialised plan: element type and shape of every input.
type PlanKey = Vec<(ElementType, Vec<usize>)>;

struct Inner {
    base: Model,
    inputs: Vec<PortInfo>,
    outputs: Vec<PortInfo>,
    static_plan: Option<Arc<Plan>>,
    cache: Mutex<HashMap<PlanKey, Arc<Plan>>>,
    pool: Arc<ThreadPool>,
    threads: usize,
    hint: PerformanceHint,
}

/// A model lowered for this CPU: fused, pre-packed and planned. Shareable across threads.
#[derive(Clone)]
pub struct CompiledModel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("inputs", &self.inner.inputs)
            .field("outputs", &self.inner.outputs)
            .field("threads", &self.inner.threads)
            .field("hint", &self.inner.hint)
            .finish()
    }
}

fn port_info(model: &Model, node: ir_graph::NodeId, port: ir_graph::OutputRef) -> Result<PortInfo> {
    let n = model.node(node)?;
    let p = model.port(port)?;
    let name = p.names.iter().next().cloned().unwrap_or_else(|| n.name.clone());
    Ok(PortInfo {
        name,
        names: p.names.clone(),
        node_name: n.name.clone(),
        element_type: p.element_type,
        shape: p.shape.clone(),
    })
}

/// Lowers `model` for the CPU: decompresses and folds constants, fuses conv/matmul with bias
/// and activation, pre-packs weights and plans buffers (for static input shapes).
///
/// A model with dynamic input dims compiles once and runs at any shape that fits them.
///
/// ```
/// use ir_graph::{ElementType, Model, PartialShape, Tensor, ops::Relu};
///
/// // Read an IR (or an ONNX model) from disk, compile it, run it.
/// let mut model = Model::new("tiny");
/// let x = model.add_parameter("x", ElementType::F32, PartialShape::fixed(&[2]))?;
/// let y = model.add_node(Relu {}, "y", &[x.into()])?;
/// model.add_result("y/sink_port_0", y.into())?;
/// let dir = tempfile::tempdir()?;
/// let xml = dir.path().join("tiny.xml");
/// ir_serialize::save_model(&model, &xml, &ir_serialize::SaveOptions::default())?;
///
/// let model = ir_serialize::read_model(&xml)?;
/// let compiled = cpu_plugin::compile_model(&model, &cpu_plugin::Config::default())?;
/// let out = compiled.create_infer_request().infer(&[Tensor::from_vec(vec![2], vec![-1.0f32, 2.0])?])?;
/// assert_eq!(out[0].values::<f32>()?.as_ref(), &[0.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compile_model(model: &Model, config: &Config) -> Result<CompiledModel> {
    let threads = config.resolved_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cpu-plugin-{i}"))
        .build()
        .map_err(|e| PluginError::Config(format!("cannot start {threads} inference threads: {e}")))?;
    let base = lower::prepare(model)?;
    let inputs = base.parameters().iter().map(|&p| port_info(&base, p, p.into())).collect::<Result<Vec<_>>>()?;
    let outputs = base
        .results()
        .iter()
        .map(|&r| {
            let n = base.node(r)?;
            let src = *n.inputs.first().ok_or_else(|| PluginError::node("Result", &n.name, "has no input"))?;
            let mut info = port_info(&base, r, src)?;
            if info.names.is_empty() {
                // An unnamed output is known by its Result's name, like OpenVINO does.
                info.name = n.name.clone();
            }
            info.node_name = n.name.clone();
            Ok(info)
        })
        .collect::<Result<Vec<_>>>()?;
    let all_static = inputs.iter().all(|i| i.shape.is_static());
    let static_plan = if all_static { Some(Arc::new(Plan::build(&base, threads)?)) } else { None };
    Ok(CompiledModel {
        inner: Arc::new(Inner {
            base,
            inputs,
            outputs,
            static_plan,
            cache: Mutex::new(HashMap::new()),
            pool: Arc::new(pool),
            threads,
            hint: config.performance_hint,
        }),
    })
}

impl CompiledModel {
    /// Model inputs in Parameter order.
    pub fn inputs(&self) -> &[PortInfo] {
        &self.inner.inputs
    }

    /// Model outputs in Result order.
    pub fn outputs(&self) -> &[PortInfo] {
        &self.inner.outputs
    }

    /// Threads this model infers with (`INFERENCE_NUM_THREADS`).
    pub fn num_threads(&self) -> usize {
        self.inner.threads
    }

    /// The performance hint it was compiled with.
    pub fn performance_hint(&self) -> PerformanceHint {
        self.inner.hint
    }

    /// How many requests to run in parallel for best throughput
    /// (`OPTIMAL_NUMBER_OF_INFER_REQUESTS`): 1 for latency, one per thread for throughput.
    pub fn optimal_number_of_infer_requests(&self) -> usize {
        match self.inner.hint {
            PerformanceHint::Latency => 1,
            PerformanceHint::Throughput => self.inner.threads,
        }
    }

    /// The plugin's prepared (decompressed, constant-folded) copy of the model.
    pub fn runtime_model(&self) -> &Model {
        &self.inner.base
    }

    /// Per-kind step counts of the plan for the compiled static shapes (`fallback:<Op>` marks
    /// steps run by the reference evaluator); empty for dynamic models.
    pub fn execution_summary(&self) -> Vec<(String, usize)> {
        self.inner.static_plan.as_ref().map(|p| p.summary()).unwrap_or_default()
    }

    /// Total f32 elements of the arena one request allocates for the static plan.
    pub fn arena_size(&self) -> usize {
        self.inner.static_plan.as_ref().map_or(0, |p| p.buffer_sizes.iter().sum())
    }

    /// A new request with its own buffers (allocated now for static shapes); many can run
    /// concurrently.
    pub fn create_infer_request(&self) -> InferRequest {
        // An arena that cannot be allocated now is retried (and reported) by `infer`.
        let state = self.inner.static_plan.as_ref().and_then(|p| State::new(p).ok().map(|s| (p.clone(), s)));
        InferRequest { inner: self.inner.clone(), state, profile: None, profile_runs: 0 }
    }

    fn plan_for(&self, inputs: &[Tensor]) -> Result<Arc<Plan>> {
        if let Some(p) = &self.inner.static_plan
            && self
                .inner
                .inputs
                .iter()
                .zip(inputs)
                .all(|(i, t)| i.shape.to_static().as_deref() == Some(t.shape()) && i.element_type == t.element_type())
        {
            return Ok(p.clone());
        }
        let shapes: PlanKey = inputs.iter().map(|t| (t.element_type(), t.shape().to_vec())).collect();
        let cache = self.inner.cache.lock().map_err(|_| PluginError::Config("plan cache poisoned".into()))?;
        if let Some(p) = cache.get(&shapes) {
            return Ok(p.clone());
        }
        drop(cache);
        let m = lower::specialize(&self.inner.base, &shapes)?;
        let plan = Arc::new(Plan::build(&m, self.inner.pool.current_num_threads())?);
        let mut cache = self.inner.cache.lock().map_err(|_| PluginError::Config("plan cache poisoned".into()))?;
        if cache.len() >= MAX_CACHED_PLANS {
            cache.clear();
        }
        cache.insert(shapes, plan.clone());
        Ok(plan)
    }
}

/// Accumulated time of one step (like OpenVINO's per-layer performance counters).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileEntry {
    /// Friendly names of the fused nodes, comma-separated.
    pub node_name: String,
    /// IR type of the first fused node.
    pub node_type: String,
    /// Kernel that ran (`fallback:<Op>` for the reference evaluator).
    pub exec_type: String,
    /// Total time over all profiled inferences.
    pub total: std::time::Duration,
    /// Number of profiled inferences.
    pub count: usize,
    /// Multiply-accumulates per inference for GEMM-shaped steps (conv, matmul), else 0.
    pub macs: u64,
}

/// One inference context: owns the arena its plan needs, reused across calls.
pub struct InferRequest {
    inner: Arc<Inner>,
    state: Option<(Arc<Plan>, State)>,
    profile: Option<Vec<std::time::Duration>>,
    profile_runs: usize,
}

impl std::fmt::Debug for InferRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferRequest").finish_non_exhaustive()
    }
}

impl InferRequest {
    /// Runs the model on `inputs` (in Parameter order) and returns the outputs in Result order.
    pub fn infer(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        interp::check_inputs(&self.inner.base, inputs)?;
        let compiled = CompiledModel { inner: self.inner.clone() };
        let plan = compiled.plan_for(inputs)?;
        let mut state = match self.state.take() {
            Some((p, s)) if Arc::ptr_eq(&p, &plan) => s,
            _ => State::new(&plan)?,
        };
        let mut times = self.profile.take();
        if let Some(t) = &mut times {
            if t.len() != plan.steps.len() {
                t.clear();
                t.resize(plan.steps.len(), std::time::Duration::ZERO);
                self.profile_runs = 0;
            }
            self.profile_runs += 1;
        }
        let r = match self.inner.hint {
            // One thread: run on the caller and skip the hand-off to the pool.
            PerformanceHint::Latency if self.inner.threads == 1 => {
                run_plan(&plan, &mut state, inputs, None, times.as_deref_mut())
            }
            PerformanceHint::Latency => {
                let pool = self.inner.pool.clone();
                let threads = self.inner.threads;
                pool.install(|| {
                    let done = AtomicBool::new(false);
                    let runner = rayon::current_thread_index();
                    rayon::scope(|s| {
                        // An idle rayon worker sleeps between parallel regions and has to be
                        // woken for the next one; the other workers spin on the pool's queue
                        // until the plan is done instead (2 threads, same binary, interleaved:
                        // resnet50 3-5%, densenet121 6-11%, shufflenet 14-16% faster).
                        for _ in 1..threads {
                            s.spawn(|_| keep_warm(&done, runner));
                        }
                        let r = run_plan(&plan, &mut state, inputs, Some(&pool), times.as_deref_mut());
                        done.store(true, Ordering::Release);
                        r
                    })
                })
            }
            PerformanceHint::Throughput => run_plan(&plan, &mut state, inputs, None, times.as_deref_mut()),
        };
        self.profile = times;
        self.state = Some((plan, state));
        r
    }

    /// Turns per-step timing on or off (`PERF_COUNT`); turning it on resets the counters.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Vec::new);
        self.profile_runs = 0;
    }

    /// Per-step times accumulated since profiling was enabled, for the last plan run.
    pub fn profiling_info(&self) -> Vec<ProfileEntry> {
        let (Some(times), Some((plan, _))) = (&self.profile, &self.state) else { return Vec::new() };
        plan.steps
            .iter()
            .zip(times)
            .map(|(s, &t)| ProfileEntry {
                node_name: s.name.clone(),
                node_type: s.op.to_string(),
                exec_type: s.exec_type(),
                total: t,
                count: self.profile_runs,
                macs: s.macs(),
            })
            .collect()
    }

    /// Runs the model on named inputs (tensor or node names); returns `(output name, tensor)`.
    pub fn infer_named(&mut self, inputs: &[(&str, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let mut ordered = Vec::with_capacity(self.inner.inputs.len());
        for port in &self.inner.inputs {
            let t = inputs
                .iter()
                .find(|(n, _)| port.matches(n))
                .map(|(_, t)| t.clone())
                .ok_or_else(|| PluginError::Input(format!("no tensor given for input '{}'", port.name)))?;
            ordered.push(t);
        }
        if let Some((n, _)) = inputs.iter().find(|(n, _)| !self.inner.inputs.iter().any(|p| p.matches(n))) {
            return Err(PluginError::Input(format!("the model has no input named '{n}'")));
        }
        let outs = self.infer(&ordered)?;
        Ok(self.inner.outputs.iter().map(|p| p.name.clone()).zip(outs).collect())
    }
}

/// Runs pool work as it appears until `done`, so the worker is awake for the next parallel
/// region of the running plan. Returns at once on the plan's own thread: that thread can only
/// pick this job up while it waits inside the plan, and spinning there would never end.
fn keep_warm(done: &AtomicBool, runner: Option<usize>) {
    if rayon::current_thread_index() == runner {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

fn run_plan(
    plan: &Plan,
    state: &mut State,
    inputs: &[Tensor],
    pool: Option<&ThreadPool>,
    mut times: Option<&mut [std::time::Duration]>,
) -> Result<Vec<Tensor>> {
    for (&v, t) in plan.inputs.iter().zip(inputs) {
        state.dyns[v] = Some(t.clone());
    }
    for (i, step) in plan.steps.iter().enumerate() {
        match times.as_deref_mut().and_then(|t| t.get_mut(i)) {
            Some(slot) => {
                let t0 = std::time::Instant::now();
                step.run(plan, state, pool)?;
                *slot += t0.elapsed();
            }
            None => step.run(plan, state, pool)?,
        }
        for &v in &plan.free_after[i] {
            state.dyns[v] = None;
        }
    }
    let outs = plan.outputs.iter().map(|&v| read_tensor(plan, state, v)).collect::<Result<Vec<_>>>();
    for (v, info) in plan.values.iter().enumerate() {
        if matches!(info.storage, Storage::Dynamic) {
            state.dyns[v] = None;
        }
    }
    outs
}
