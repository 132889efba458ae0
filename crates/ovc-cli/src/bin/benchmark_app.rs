//! `benchmark_app`: measures inference speed of a model on the CPU plugin, like OpenVINO's tool.
//!
//! ```text
//! benchmark_app -m MODEL.xml|MODEL.onnx [-t SECONDS | -niter N] [-nthreads N]
//!               [-hint latency|throughput] [-shape "name[1,3,224,224]"] [-nireq N] [-seed N]
//! ```

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cpu_plugin::{CompiledModel, Config, InferRequest, PerformanceHint, compile_model};
use ir_graph::ops::Parameter;
use ir_graph::{ElementType, Model, Op, PartialShape, Tensor};

const USAGE: &str = "usage: benchmark_app -m MODEL [-t SECONDS | -niter N] [-nthreads N] \
[-hint latency|throughput] [-shape \"name[1,3,224,224]\"] [-nireq N] [-seed N] [-pc]";

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    model: String,
    time: Option<f64>,
    niter: Option<usize>,
    nthreads: Option<usize>,
    hint: PerformanceHint,
    shapes: Vec<(Option<String>, Vec<usize>)>,
    nireq: Option<usize>,
    seed: u64,
    perf_counters: bool,
}

fn parse_shape_spec(spec: &str) -> Result<Vec<(Option<String>, Vec<usize>)>> {
    // `name[1,3,224,224],other[1,10]` or `[1,3,224,224]`.
    let mut out = Vec::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        let open = rest.find('[').ok_or_else(|| anyhow!("bad -shape '{spec}': expected name[d0,d1,...]"))?;
        let close =
            rest[open..].find(']').map(|c| c + open).ok_or_else(|| anyhow!("bad -shape '{spec}': missing ']'"))?;
        let name = rest[..open].trim().trim_start_matches(',').trim();
        let dims = rest[open + 1..close]
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.trim().parse::<usize>().map_err(|_| anyhow!("bad dimension '{d}' in -shape '{spec}'")))
            .collect::<Result<Vec<_>>>()?;
        out.push(((!name.is_empty()).then(|| name.to_string()), dims));
        rest = rest[close + 1..].trim_start_matches(',').trim();
    }
    Ok(out)
}

fn parse_args() -> Result<Args> {
    let mut a = Args { seed: 42, ..Args::default() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| anyhow!("{flag} needs {what}\n{USAGE}"));
        match flag.as_str() {
            "-m" => a.model = value("a model path")?,
            "-t" => a.time = Some(value("seconds")?.parse().context("-t expects seconds")?),
            "-niter" => a.niter = Some(value("a count")?.parse().context("-niter expects a count")?),
            "-nthreads" => a.nthreads = Some(value("a count")?.parse().context("-nthreads expects a count")?),
            "-nireq" => a.nireq = Some(value("a count")?.parse().context("-nireq expects a count")?),
            "-seed" => a.seed = value("a number")?.parse().context("-seed expects a number")?,
            "-hint" => a.hint = value("latency or throughput")?.parse().map_err(|e: String| anyhow!(e))?,
            "-shape" => a.shapes = parse_shape_spec(&value("a shape")?)?,
            "-d" => {
                let d = value("a device")?;
                if d != "CPU" {
                    bail!("only the CPU device is available, got '{d}'");
                }
            }
            "-api" => {
                value("sync or async")?;
            }
            "-pc" => a.perf_counters = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n{USAGE}"),
        }
    }
    if a.model.is_empty() {
        bail!("-m MODEL is required\n{USAGE}");
    }
    Ok(a)
}

/// Applies `-shape` overrides to the model's Parameters and re-infers shapes.
fn reshape(model: &mut Model, shapes: &[(Option<String>, Vec<usize>)]) -> Result<()> {
    if shapes.is_empty() {
        return Ok(());
    }
    let params = model.parameters().to_vec();
    for (k, (name, dims)) in shapes.iter().enumerate() {
        let pid = match name {
            Some(n) => *params
                .iter()
                .find(|&&p| {
                    model.node(p).is_ok_and(|node| &node.name == n)
                        || model.port(p.into()).is_ok_and(|port| port.names.contains(n))
                })
                .ok_or_else(|| anyhow!("-shape names '{n}', which is not a model input"))?,
            None => *params.get(k).ok_or_else(|| anyhow!("-shape gives more shapes than the model has inputs"))?,
        };
        let node = model.node_mut(pid)?;
        if let Op::Parameter(Parameter { element_type, .. }) = &node.op {
            let et = *element_type;
            node.op = Op::Parameter(Parameter { shape: PartialShape::fixed(dims), element_type: et });
        }
    }
    model.validate().context("the model does not accept the -shape given")?;
    Ok(())
}

/// xorshift64* generator for reproducible random inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random tensor of the input's type: floats in [0, 1), integers in [0, 4), booleans 0/1.
fn random_tensor(et: ElementType, shape: Vec<usize>, rng: &mut Rng) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    Ok(match et {
        ElementType::F32 => Tensor::from_vec(shape, (0..n).map(|_| rng.unit() as f32).collect())?,
        ElementType::F64 => Tensor::from_vec(shape, (0..n).map(|_| rng.unit()).collect())?,
        ElementType::F16 => Tensor::from_vec(shape, (0..n).map(|_| half::f16::from_f64(rng.unit())).collect())?,
        ElementType::Bf16 => Tensor::from_vec(shape, (0..n).map(|_| half::bf16::from_f64(rng.unit())).collect())?,
        ElementType::I64 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as i64).collect())?,
        ElementType::I32 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as i32).collect())?,
        ElementType::I16 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as i16).collect())?,
        ElementType::I8 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as i8).collect())?,
        ElementType::U8 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as u8).collect())?,
        ElementType::U16 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as u16).collect())?,
        ElementType::U32 => Tensor::from_vec(shape, (0..n).map(|_| (rng.next() % 4) as u32).collect())?,
        ElementType::U64 => Tensor::from_vec(shape, (0..n).map(|_| rng.next() % 4).collect())?,
        ElementType::Boolean => Tensor::from_bools(shape, &(0..n).map(|_| rng.next() & 1 == 1).collect::<Vec<_>>())?,
        other => bail!("cannot generate random data of type {other}"),
    })
}

fn fmt_ms(d: f64) -> String {
    format!("{d:.2} ms")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs the requests (one thread each) until the time or iteration budget is spent; returns
/// per-iteration latencies and the total duration.
fn measure(requests: &mut [InferRequest], inputs: &[Tensor], budget: Budget) -> Result<(Vec<f64>, Duration)> {
    let started = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::new());
    let error = Mutex::new(None::<anyhow::Error>);
    let t0 = Instant::now();
    let take = || match budget {
        Budget::Iterations(n) => started.fetch_add(1, Ordering::Relaxed) < n,
        Budget::Time(d) => t0.elapsed() < d,
    };
    let worker = |req: &mut InferRequest| {
        let mut local = Vec::new();
        while take() {
            let t = Instant::now();
            if let Err(e) = req.infer(inputs) {
                if let Ok(mut slot) = error.lock() {
                    slot.get_or_insert(anyhow!(e));
                }
                break;
            }
            local.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if let Ok(mut all) = latencies.lock() {
            all.extend(local);
        }
    };
    match requests {
        [one] => worker(one),
        many => std::thread::scope(|s| {
            for req in many.iter_mut() {
                s.spawn(|| worker(req));
            }
        }),
    }
    let total = t0.elapsed();
    if let Some(e) = error.into_inner().map_err(|_| anyhow!("a request thread panicked"))? {
        return Err(e.context("inference failed"));
    }
    let lat = latencies.into_inner().map_err(|_| anyhow!("a request thread panicked"))?;
    Ok((lat, total))
}

#[derive(Clone, Copy)]
enum Budget {
    Iterations(usize),
    Time(Duration),
}

fn run() -> Result<()> {
    println!("[Step 1/11] Parsing and validating input arguments");
    let args = parse_args()?;
    println!("[Step 2/11] Loading the CPU plugin");
    println!("[ INFO ] Device: CPU (cpu-plugin {})", env!("CARGO_PKG_VERSION"));
    println!("[Step 3/11] Setting device configuration");
    let config = Config { inference_num_threads: args.nthreads, performance_hint: args.hint };
    println!("[Step 4/11] Reading model files");
    let t = Instant::now();
    let mut model = ovc_cli::read_any_model(std::path::Path::new(&args.model))
        .with_context(|| format!("cannot read model '{}'", args.model))?;
    println!("[ INFO ] Read model took {}", fmt_ms(t.elapsed().as_secs_f64() * 1e3));
    println!("[Step 5/11] Resizing model to match image sizes and given batch");
    reshape(&mut model, &args.shapes)?;
    println!("[Step 6/11] Configuring input of the model");
    println!("[Step 7/11] Loading the model to the device");
    let t = Instant::now();
    let compiled = compile_model(&model, &config).context("cannot compile the model")?;
    println!("[ INFO ] Compile model took {}", fmt_ms(t.elapsed().as_secs_f64() * 1e3));
    println!("[Step 8/11] Querying optimal runtime parameters");
    let nireq = args.nireq.unwrap_or_else(|| compiled.optimal_number_of_infer_requests()).max(1);
    println!("[ INFO ]   PERFORMANCE_HINT: {:?}", compiled.performance_hint());
    println!("[ INFO ]   INFERENCE_NUM_THREADS: {}", compiled.num_threads());
    println!("[ INFO ]   OPTIMAL_NUMBER_OF_INFER_REQUESTS: {}", compiled.optimal_number_of_infer_requests());
    let fallbacks: Vec<String> = compiled
        .execution_summary()
        .into_iter()
        .filter(|(k, _)| k.starts_with("fallback:"))
        .map(|(k, n)| format!("{}x{n}", k.trim_start_matches("fallback:")))
        .collect();
    if !fallbacks.is_empty() {
        println!("[ INFO ]   Reference fallback ops: {}", fallbacks.join(", "));
    }
    println!("[Step 9/11] Creating infer requests and preparing input tensors");
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut inputs = Vec::new();
    for port in compiled.inputs() {
        let shape = port.shape.to_static().ok_or_else(|| {
            anyhow!("input '{}' has dynamic shape {}; give a concrete one with -shape", port.name, port.shape)
        })?;
        println!("[ INFO ] {} ({}): {} / {:?}", port.name, port.node_name, port.element_type, shape);
        inputs.push(random_tensor(port.element_type, shape, &mut rng)?);
    }
    let batch = inputs.first().and_then(|t| (t.shape().len() >= 2).then(|| t.shape()[0])).unwrap_or(1).max(1);
    let budget = match (args.niter, args.time) {
        (Some(n), _) => Budget::Iterations(n.div_ceil(nireq) * nireq),
        (None, Some(t)) => Budget::Time(Duration::from_secs_f64(t)),
        (None, None) => Budget::Time(Duration::from_secs(60)),
    };
    match budget {
        Budget::Iterations(n) => {
            println!("[Step 10/11] Measuring performance ({n} iterations, {nireq} inference requests)")
        }
        Budget::Time(d) => {
            println!("[Step 10/11] Measuring performance ({} s duration, {nireq} inference requests)", d.as_secs_f64())
        }
    }
    let mut requests: Vec<InferRequest> = (0..nireq).map(|_| compiled.create_infer_request()).collect();
    let t = Instant::now();
    requests[0].infer(&inputs).context("first inference failed")?;
    println!("[ INFO ] First inference took {}", fmt_ms(t.elapsed().as_secs_f64() * 1e3));
    let (mut lat, total) = measure(&mut requests, &inputs, budget)?;
    lat.sort_by(f64::total_cmp);
    let count = lat.len();
    let duration_ms = total.as_secs_f64() * 1e3;
    let avg = if count == 0 { 0.0 } else { lat.iter().sum::<f64>() / count as f64 };
    println!("[Step 11/11] Dumping statistics report");
    println!("[ INFO ] Execution Devices: CPU");
    println!("[ INFO ] Count:            {count} iterations");
    println!("[ INFO ] Duration:         {}", fmt_ms(duration_ms));
    println!("[ INFO ] Latency:");
    println!("[ INFO ]    Median:        {}", fmt_ms(percentile(&lat, 50.0)));
    println!("[ INFO ]    Average:       {}", fmt_ms(avg));
    println!("[ INFO ]    Min:           {}", fmt_ms(lat.first().copied().unwrap_or(0.0)));
    println!("[ INFO ]    Max:           {}", fmt_ms(lat.last().copied().unwrap_or(0.0)));
    let fps = if duration_ms > 0.0 { (count * batch) as f64 * 1e3 / duration_ms } else { 0.0 };
    println!("[ INFO ] Throughput:   {fps:.2} FPS");
    if args.perf_counters {
        print_perf_counters(&compiled, &inputs)?;
    }
    Ok(())
}

/// Profiles a few extra inferences and prints per-step times, slowest kernels first.
fn print_perf_counters(compiled: &CompiledModel, inputs: &[Tensor]) -> Result<()> {
    let mut req = compiled.create_infer_request();
    req.set_profiling(true);
    let runs = 10;
    let t0 = Instant::now();
    for _ in 0..runs {
        req.infer(inputs).context("profiled inference failed")?;
    }
    let wall = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let entries = req.profiling_info();
    let total: f64 = entries.iter().map(|e| e.total.as_secs_f64()).sum();
    println!("[ INFO ] Performance counts (average of {runs} inferences):");
    for e in &entries {
        let ms = e.total.as_secs_f64() * 1e3 / runs as f64;
        let rate =
            if e.macs > 0 && ms > 0.0 { format!("{:>7.1} GMAC/s", e.macs as f64 / ms / 1e6) } else { String::new() };
        println!("{:<60} {:<20} {:<26} {:>9.3} ms {rate}", e.node_name, e.node_type, e.exec_type, ms);
    }
    let mut by_type: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for e in &entries {
        *by_type.entry(e.exec_type.clone()).or_default() += e.total.as_secs_f64();
    }
    let mut by_type: Vec<_> = by_type.into_iter().collect();
    by_type.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("[ INFO ] Time by kernel:");
    for (k, t) in by_type {
        println!("[ INFO ]    {k:<26} {:>9.3} ms  {:>5.1} %", t * 1e3 / runs as f64, 100.0 * t / total.max(1e-12));
    }
    println!("[ INFO ] Total time: {:.3} ms (wall {wall:.3} ms per inference)", total * 1e3 / runs as f64);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ ERROR ] {e:#}");
            ExitCode::FAILURE
        }
    }
}
