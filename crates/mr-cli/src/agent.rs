//! `mr agent ima`: the guest agent. Reads the IMA binary list, extends the virtual register
//! `mr_ima` once per new entry (each extend is a journal record, whose hash extends the backing
//! register: RTMR3 through tsm-mr, or a TPM PCR), and resumes after a restart without skipping
//! or repeating an entry (mr-virtual's `ImaAgent`).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use mr_core::{HashAlg, MeasurementRegister, MrId};
use mr_rtmr::fs::{Fs, RealFs, SimulatedSysfsDir};
use mr_rtmr::rtmr::TdxRtmr;
use mr_virtual::agent::{AgentProgress, ImaAgent};
use mr_virtual::VirtualRegister;

use crate::args::OutputArgs;
use crate::common::{print_json, CmdResult, Failure};
use crate::verify::MR_IMA;

/// Where the kernel publishes the IMA binary list.
pub const IMA_LIST: &str = "/sys/kernel/security/ima/binary_runtime_measurements";

/// `mr agent` subcommands.
#[derive(Subcommand)]
pub enum AgentCommand {
    /// Extend `mr_ima` with every new IMA entry, journalled over a backing register.
    Ima(ImaArgs),
}

/// Arguments of `mr agent ima`.
#[derive(Args)]
pub struct ImaArgs {
    /// The backing register: `rtmr3` (tsm-mr sysfs; also rtmr0..rtmr2) or `pcr:N` (a TPM PCR
    /// through tss-esapi; needs the `tpm-device` feature).
    #[arg(long, value_name = "rtmr3|pcr:N")]
    pub backing: String,
    /// The journal of `mr_ima` (created if missing; appended and fsynced before every extend).
    #[arg(long, value_name = "PATH")]
    pub journal: PathBuf,
    /// The IMA binary list.
    #[arg(long, value_name = "PATH", default_value = IMA_LIST)]
    pub ima_list: PathBuf,
    /// Keep running: poll the list and sync new entries every --interval-ms.
    #[arg(long)]
    pub follow: bool,
    /// Poll interval of --follow, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval_ms: u64,
    /// RTMR backing: the root below which `sys/class/misc/tdx_guest/measurements` is found
    /// (default `/`, which needs the `rtmr-device` feature).
    #[arg(long, value_name = "DIR")]
    pub sysfs_root: Option<PathBuf>,
    /// RTMR backing: the --sysfs-root is a simulated TD, a plain directory laid out like sysfs
    /// whose `rtmrN:sha384` files mr extends itself (new = SHA-384(old || data)), as the kernel
    /// would. For tests and demos.
    #[arg(long, requires = "sysfs_root")]
    pub simulated_td: bool,
    /// PCR backing: the TCTI (default `device:/dev/tpmrm0`).
    #[arg(long, value_name = "TCTI")]
    pub tcti: Option<String>,
    /// PCR backing: the PCR bank (default sha256).
    #[arg(long, value_name = "ALG")]
    pub pcr_bank: Option<HashAlg>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run an `mr agent` subcommand.
pub fn run(command: AgentCommand) -> CmdResult {
    match command {
        AgentCommand::Ima(args) => ima(args),
    }
}

fn virtual_failure(e: mr_virtual::Error) -> Failure {
    Failure::classed(e.class(), e.to_string())
}

/// Opens `mr_ima` over `backing` with its journal (reconciling the journal with the register)
/// and syncs the list once, or forever with `--follow`.
fn ima(args: ImaArgs) -> CmdResult {
    let backing = mr_virtual::agent::parse_backing(&args.backing);
    match backing.map_err(|e| Failure::Malformed(format!("--backing {e}")))? {
        MrId::Rtmr(n) => {
            let fs: Arc<dyn Fs> = match &args.sysfs_root {
                Some(root) if args.simulated_td => Arc::new(SimulatedSysfsDir::new(root.clone())),
                Some(root) => Arc::new(RealFs::new(root.clone())),
                None => system_fs()?,
            };
            let rtmr = TdxRtmr::new(fs, n).map_err(crate::args::rtmr_failure)?;
            agent_loop(rtmr, &args)
        }
        MrId::Pcr(n) => pcr_agent(n, &args),
        other => Err(Failure::Malformed(format!(
            "--backing {other}: not a backing register"
        ))),
    }
}

#[cfg(feature = "rtmr-device")]
fn system_fs() -> Result<Arc<dyn Fs>, Failure> {
    Ok(Arc::new(RealFs::system()))
}

#[cfg(not(feature = "rtmr-device"))]
fn system_fs() -> Result<Arc<dyn Fs>, Failure> {
    Err(Failure::Malformed(
        "--backing rtmrN on this machine's /sys needs mr built with the `rtmr-device` feature; \
         give --sysfs-root DIR otherwise"
            .into(),
    ))
}

#[cfg(feature = "tpm-device")]
fn pcr_agent(index: u32, args: &ImaArgs) -> CmdResult {
    let tcti = args.tcti.as_deref().unwrap_or("device:/dev/tpmrm0");
    let tpm = mr_tpm::device::Tpm::open(tcti).map_err(|e| Failure::Malformed(e.to_string()))?;
    let pcr = tpm.pcr(index, args.pcr_bank.unwrap_or(HashAlg::Sha256));
    agent_loop(pcr, args)
}

#[cfg(not(feature = "tpm-device"))]
fn pcr_agent(_index: u32, _args: &ImaArgs) -> CmdResult {
    Err(Failure::Malformed(
        "--backing pcr:N needs mr built with the `tpm-device` feature (tss-esapi)".into(),
    ))
}

/// One sync of `list` into the agent.
pub fn sync_once<B: MeasurementRegister>(
    agent: &mut ImaAgent<B>,
    list: &std::path::Path,
) -> Result<AgentProgress, Failure> {
    let file = std::fs::File::open(list)
        .map_err(|e| Failure::Malformed(format!("cannot open {}: {e}", list.display())))?;
    agent
        .sync(io::BufReader::with_capacity(1 << 16, file))
        .map_err(virtual_failure)
}

fn agent_loop<B: MeasurementRegister>(backing: B, args: &ImaArgs) -> CmdResult {
    let backing_id = backing.id();
    let register =
        VirtualRegister::open(MR_IMA, backing, &args.journal).map_err(virtual_failure)?;
    let mut agent = ImaAgent::new(register);
    loop {
        let progress = sync_once(&mut agent, &args.ima_list)?;
        if !args.follow || progress.new_entries > 0 {
            report(&progress, &backing_id, args);
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(args.interval_ms.max(10)));
    }
}

fn report(p: &AgentProgress, backing: &MrId, args: &ImaArgs) {
    if args.output.json {
        print_json(&serde_json::json!({
            "new_entries": p.new_entries,
            "total_entries": p.total_entries,
            "register": MR_IMA,
            "backing": backing.to_string(),
            "journal": args.journal.display().to_string(),
        }));
    } else {
        outln!(
            "mr agent: {} new IMA entries, {} in all, extended into {MR_IMA} over {backing} \
             (journal {})",
            p.new_entries,
            p.total_entries,
            args.journal.display()
        );
    }
}
