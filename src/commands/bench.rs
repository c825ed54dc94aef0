pub async fn run(_c: crate::config::Config, _b: crate::cli::BenchCommand) -> anyhow::Result<std::process::ExitCode> { todo!() }
#[derive(clap::Args, Debug)] pub struct ImagingBenchArgs {}
