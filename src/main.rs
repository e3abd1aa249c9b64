//! ktriage entry point: install error reporting, parse the command line, run, exit.

use ktriage::cli::{Cli, Command, ConfigCommand};
use ktriage::session::Session;

fn main() {
    let _ = ktriage::PROCESS_START.set(std::time::Instant::now());
    tune_malloc();
    // color-eyre's panic report is printed after ktriage's hook has restored the terminal.
    let _ = color_eyre::install();
    let cli = Cli::parse_args();
    if let Some(code) = describe(&cli) {
        std::process::exit(code);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ktriage: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(run(cli));
    // Exit without waiting for watch tasks to wind down: the terminal is already restored.
    std::process::exit(code);
}

async fn run(cli: Cli) -> i32 {
    match &cli.command {
        Some(Command::Sim(args)) => return sim(args).await,
        Some(Command::Timeline(args)) => return ktriage::record::timeline_command(args),
        Some(Command::Replay(args)) => return replay(&cli.global, args).await,
        _ => {}
    }
    let session = match Session::prepare(&cli.global).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ktriage: {e}");
            return 2;
        }
    };
    match cli.command {
        Some(Command::Report(args)) => {
            // the report's standard output is the report: config warnings go to standard error
            for w in &session.config.warnings {
                eprintln!("ktriage: {w}");
            }
            if args.all_contexts {
                ktriage::fleet::run(session, &cli.global, &args).await
            } else {
                ktriage::report::run(session, &args).await
            }
        }
        // handled before the session
        Some(
            Command::Sim(_)
            | Command::Replay(_)
            | Command::Timeline(_)
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Config(_),
        ) => 2,
        None => {
            for w in &session.config.warnings {
                tracing::warn!("{w}");
            }
            match ktriage::app::run(session).await {
                Ok(_) => 0,
                Err(e) => {
                    ktriage::term::restore();
                    eprintln!("ktriage: terminal error: {e}");
                    1
                }
            }
        }
    }
}

/// `ktriage replay FILE`: the console on a recording; no cluster client is built.
async fn replay(global: &ktriage::cli::GlobalArgs, args: &ktriage::cli::ReplayArgs) -> i32 {
    let rec = match ktriage::record::Recording::read(&args.file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ktriage: {e}");
            return 2;
        }
    };
    let session = match Session::offline(global) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ktriage: {e}");
            return 2;
        }
    };
    match ktriage::app::replay(session, rec, args.speed).await {
        Ok(_) => 0,
        Err(e) => {
            ktriage::term::restore();
            eprintln!("ktriage: terminal error: {e}");
            1
        }
    }
}

/// `completions`, `man`, `config`: ktriage describes itself (no runtime, no cluster). `None` for the
/// other commands.
fn describe(cli: &Cli) -> Option<i32> {
    use std::io::Write as _;
    let out = |bytes: &[u8]| match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("ktriage: cannot write to standard output: {e}");
            2
        }
    };
    Some(match &cli.command {
        Some(Command::Completions { shell }) => out(&ktriage::cli::completions(*shell)),
        Some(Command::Man { dir }) => match (ktriage::cli::man_pages(), dir) {
            (Err(e), _) => {
                eprintln!("ktriage: cannot render the manual: {e}");
                2
            }
            (Ok(pages), None) => pages.first().map_or(2, |(_, page)| out(page)),
            (Ok(pages), Some(dir)) => write_pages(dir, &pages),
        },
        Some(Command::Config(ConfigCommand::Default)) => {
            out(ktriage::config::DEFAULT_CONFIG.as_bytes())
        }
        Some(Command::Config(ConfigCommand::Path)) => {
            ktriage::config::check_path(cli.global.config.as_deref())
        }
        _ => return None,
    })
}

fn write_pages(dir: &std::path::Path, pages: &[(String, Vec<u8>)]) -> i32 {
    for (name, page) in pages {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, page) {
            eprintln!("ktriage: cannot write {}: {e}", path.display());
            return 2;
        }
        println!("{}", path.display());
    }
    0
}

/// `ktriage sim`: serve until interrupted.
async fn sim(args: &ktriage::cli::SimArgs) -> i32 {
    if args.list {
        for name in ktriage::sim::list_scenarios() {
            println!("{name}");
        }
        return 0;
    }
    let opts = ktriage::sim::SimOptions {
        scenario: args.scenario.clone(),
        listen: args.listen,
        plain_http: args.plain_http,
        request_log: args.request_log.clone(),
    };
    match ktriage::sim::cli::serve_forever(opts, args.write_kubeconfig.clone()).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ktriage sim: {e}");
            2
        }
    }
}

/// glibc's malloc keeps freed memory: one arena per thread, and free pages at the top of a heap
/// until 128 KiB..32 MiB (a threshold that grows with the largest block freed). The sync's list
/// pages and each metrics answer (17 MB at 50,000 pods) are large, short-lived blocks, so RSS sat
/// ~40 MB above the live data. Two arenas and a fixed 128 KiB trim threshold: RSS at 50,000 pods
/// 243 → 196..204 MiB after 45 s (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
