//! Reads an IR and writes it back: `cargo run -p ir-serialize --example resave -- in.xml out.xml [--fp16]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(src), Some(dst)) = (args.get(1), args.get(2)) else {
        return Err("usage: resave IN.xml OUT.xml [--fp16]".into());
    };
    let fp16 = args.iter().any(|a| a == "--fp16");
    let t = std::time::Instant::now();
    let m = ir_serialize::read_model(std::path::Path::new(src))?;
    let r = t.elapsed();
    ir_serialize::save_model(&m, std::path::Path::new(dst), &ir_serialize::SaveOptions { compress_to_fp16: fp16 })?;
    eprintln!("read {:?}, total {:?}, {} nodes", r, t.elapsed(), m.node_count());
    Ok(())
}
