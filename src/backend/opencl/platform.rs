//! Finding OpenCL: loading the library safely, listing platforms and devices, one shared context
//! per process, and a cache of compiled programs.
//!
//! `opencl3` (through `cl3`'s default `dynamic` feature) opens `libOpenCL.so.1` at the first call
//! and reports a missing library as the error code `DLOPEN_RUNTIME_LOAD_FAILED` instead of
//! failing to link or panicking, so every entry point here returns a clear [`OpenClError`] on a
//! machine without OpenCL.
//!
//! Programs are cached by a hash of their source within the process (a PoCL build takes
//! seconds); across processes PoCL keeps its own on-disk kernel cache (`~/.cache/pocl/kcache`),
//! which makes a second build of the same source fast.

use super::OpenClError;
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_GPU, Device};
use opencl3::error_codes::{ClError, DLOPEN_FUNCTION_NOT_AVAILABLE, DLOPEN_RUNTIME_LOAD_FAILED};
use opencl3::platform::{Platform, get_platforms};
use opencl3::program::Program;
use opencl3::types::cl_device_id;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// What to install where OpenCL is missing.
pub const INSTALL_HINT: &str = "install an OpenCL loader and a driver (Debian/Ubuntu: `apt install ocl-icd-libopencl1 pocl-opencl-icd`)";

/// Limits of one device, for `hetsim devices` and for choosing launch sizes.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub name: String,
    pub vendor: String,
    pub version: String,
    /// CL_DRIVER_VERSION, for the manifest.
    pub driver_version: String,
    pub kind: String,
    pub compute_units: u32,
    pub global_mem_bytes: u64,
    pub local_mem_bytes: u64,
    pub max_alloc_bytes: u64,
    pub max_work_group_size: usize,
    pub fp64: bool,
}

/// One platform and its devices.
#[derive(Clone, Debug)]
pub struct PlatformInfo {
    pub name: String,
    pub vendor: String,
    pub version: String,
    pub devices: Vec<DeviceInfo>,
}

fn api(what: &'static str) -> impl Fn(ClError) -> OpenClError {
    move |e| match e.0 {
        DLOPEN_RUNTIME_LOAD_FAILED => OpenClError::NoLibrary,
        DLOPEN_FUNCTION_NOT_AVAILABLE => OpenClError::Api {
            what,
            message: "the OpenCL library lacks this function (too old a loader?)".into(),
        },
        _ => OpenClError::Api {
            what,
            message: e.to_string(),
        },
    }
}

/// Serialises platform and device discovery: drivers initialise their devices lazily on the
/// first query, and several threads querying at once (a test harness, say) were seen to get
/// "no device" from PoCL.
static DISCOVERY: Mutex<()> = Mutex::new(());

fn discovery_lock() -> std::sync::MutexGuard<'static, ()> {
    DISCOVERY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn platforms_raw() -> Result<Vec<Platform>, OpenClError> {
    match get_platforms() {
        Ok(p) if p.is_empty() => Err(OpenClError::NoPlatform("none registered".into())),
        Ok(p) => Ok(p),
        Err(e) if e.0 == DLOPEN_RUNTIME_LOAD_FAILED => Err(OpenClError::NoLibrary),
        // -1001: CL_PLATFORM_NOT_FOUND_KHR from the ICD loader when no driver is registered.
        Err(e) => Err(OpenClError::NoPlatform(e.to_string())),
    }
}

fn device_info(d: &Device) -> Result<DeviceInfo, OpenClError> {
    let kind = match d.dev_type().map_err(api("clGetDeviceInfo"))? {
        t if t & CL_DEVICE_TYPE_GPU != 0 => "GPU",
        t if t & opencl3::device::CL_DEVICE_TYPE_CPU != 0 => "CPU",
        t if t & opencl3::device::CL_DEVICE_TYPE_ACCELERATOR != 0 => "accelerator",
        _ => "other",
    };
    let extensions = d.extensions().unwrap_or_default();
    Ok(DeviceInfo {
        name: d.name().map_err(api("clGetDeviceInfo"))?.trim().to_string(),
        vendor: d.vendor().unwrap_or_default().trim().to_string(),
        version: d.version().unwrap_or_default().trim().to_string(),
        driver_version: d.driver_version().unwrap_or_default().trim().to_string(),
        kind: kind.into(),
        compute_units: d.max_compute_units().unwrap_or(1),
        global_mem_bytes: d.global_mem_size().unwrap_or(0),
        local_mem_bytes: d.local_mem_size().unwrap_or(0),
        max_alloc_bytes: d.max_mem_alloc_size().unwrap_or(0),
        max_work_group_size: d.max_work_group_size().unwrap_or(1),
        fp64: d.double_fp_config().unwrap_or(0) != 0 || extensions.contains("cl_khr_fp64"),
    })
}

/// Every platform with its devices (for `hetsim devices`).
pub fn platforms() -> Result<Vec<PlatformInfo>, OpenClError> {
    let _guard = discovery_lock();
    let mut out = Vec::new();
    for p in platforms_raw()? {
        let ids = p.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default();
        let devices = ids
            .iter()
            .map(|id| device_info(&Device::new(*id)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(PlatformInfo {
            name: p.name().unwrap_or_default().trim().to_string(),
            vendor: p.vendor().unwrap_or_default().trim().to_string(),
            version: p.version().unwrap_or_default().trim().to_string(),
            devices,
        });
    }
    Ok(out)
}

/// The process's OpenCL device: its context, its limits and the compiled programs.
pub(crate) struct Shared {
    pub device: Device,
    pub context: Context,
    pub info: DeviceInfo,
    pub platform: String,
    programs: Mutex<HashMap<u64, Arc<Program>>>,
}

/// The opened devices, by the device number asked for (None: the first GPU, else the first
/// device), each opened once per process.
type Opened = Mutex<HashMap<Option<usize>, Result<Arc<Shared>, String>>>;

static SHARED: OnceLock<Opened> = OnceLock::new();

/// The device the backends use: `device` is the number of a device in `hetsim devices` order
/// (`HETSIM_OPENCL_DEVICE`, through the settings); None picks the first GPU, else the first
/// device. Opened once per process for each choice.
pub(crate) fn shared(device: Option<usize>) -> Result<Arc<Shared>, OpenClError> {
    let opened = SHARED.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked while opening; the map is usable.
    let mut opened = opened.lock().unwrap_or_else(|e| e.into_inner());
    opened
        .entry(device)
        .or_insert_with(|| open(device).map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(OpenClError::Unavailable)
}

fn open(device: Option<usize>) -> Result<Shared, OpenClError> {
    let _guard = discovery_lock();
    let mut all: Vec<(String, cl_device_id)> = Vec::new();
    // A driver still initialising can answer "no device" for a moment: ask a few times before
    // concluding there is none (the answer is cached for the whole process).
    for attempt in 0..5 {
        for p in platforms_raw()? {
            let name = p.name().unwrap_or_default().trim().to_string();
            for id in p.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default() {
                all.push((name.clone(), id));
            }
        }
        if !all.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100 << attempt));
    }
    if all.is_empty() {
        return Err(OpenClError::NoDevice);
    }
    let chosen = match device {
        Some(k) => all.get(k).cloned().ok_or_else(|| {
            OpenClError::Unsupported(format!(
                "HETSIM_OPENCL_DEVICE={k}, but there are only {} devices",
                all.len()
            ))
        })?,
        None => all
            .iter()
            .find(|(_, id)| {
                Device::new(*id)
                    .dev_type()
                    .is_ok_and(|t| t & CL_DEVICE_TYPE_GPU != 0)
            })
            .unwrap_or(&all[0])
            .clone(),
    };
    let device = Device::new(chosen.1);
    let info = device_info(&device)?;
    let context = Context::from_device(&device).map_err(api("clCreateContext"))?;
    Ok(Shared {
        device,
        context,
        info,
        platform: chosen.0,
        programs: Mutex::new(HashMap::new()),
    })
}

/// Build options for the generated programs (see [`Shared::program`]): `-w`, no warnings, is
/// one of the options every OpenCL compiler takes.
const QUIET_BUILD_OPTIONS: &str = "-w";

impl Shared {
    /// A command queue of its own for one backend (in order: launches follow each other).
    pub fn queue(&self) -> Result<CommandQueue, OpenClError> {
        match CommandQueue::create_default_with_properties(&self.context, 0, 0) {
            Ok(q) => Ok(q),
            // OpenCL 1.x devices only have the older entry point.
            #[allow(deprecated)]
            Err(_) => {
                CommandQueue::create_default(&self.context, 0).map_err(api("clCreateCommandQueue"))
            }
        }
    }

    /// The program for `source`, built with the compiler options `build_options` (None: the
    /// quiet default), once per process.
    pub fn program(
        &self,
        source: &str,
        build_options: Option<&str>,
    ) -> Result<Arc<Program>, OpenClError> {
        let options = build_options.unwrap_or(QUIET_BUILD_OPTIONS);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        source.hash(&mut h);
        options.hash(&mut h);
        let key = h.finish();
        // Builds of different sources may run at once; a poisoned lock only means another
        // thread panicked while inserting, and the map is still usable.
        if let Some(p) = self.lock().get(&key) {
            return Ok(p.clone());
        }
        let mut program = Program::create_from_source(&self.context, source)
            .map_err(api("clCreateProgramWithSource"))?;
        // Clang-based compilers (PoCL) note on every 16-wide vector argument of an inlined
        // built-in that, without AVX-512, it "changes the ABI", and print "N warnings
        // generated." straight to the process's stderr, past the progress bar. Those notes are
        // all these kernels give (tests/cli_conventions.rs builds them with warnings on), so
        // the build asks for none; HETSIM_OPENCL_BUILD_OPTIONS (through the settings) replaces
        // the options, e.g. with "" to see the compiler's warnings.
        if let Err(e) = program.build(&[self.device.id()], options) {
            let log = program.get_build_log(self.device.id()).unwrap_or_default();
            return Err(OpenClError::Build {
                code: e.to_string(),
                log: log.chars().take(4000).collect(),
            });
        }
        let program = Arc::new(program);
        self.lock().insert(key, program.clone());
        Ok(program)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Program>>> {
        self.programs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
