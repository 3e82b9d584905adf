//! Where the network runs: `auto` | `cpu` | `cuda:N`.

use std::fmt;
use std::str::FromStr;

use tch::{Cuda, Device};

/// A device request as users write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA device 0 when CUDA is available, else the CPU.
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = match text {
            "auto" => Some(DeviceChoice::Auto),
            "cpu" => Some(DeviceChoice::Cpu),
            "cuda" => Some(DeviceChoice::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda),
        };
        parsed.ok_or_else(|| format!("unknown device {text:?}: expected auto, cpu or cuda:N"))
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// The libtorch device, or why the requested one is not there.
    pub fn resolve(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda(n) => {
                let count = if Cuda::is_available() {
                    Cuda::device_count() as usize
                } else {
                    0
                };
                if n < count {
                    Ok(Device::Cuda(n))
                } else {
                    Err(format!(
                        "{self} requested, but libtorch sees {count} CUDA device(s)"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_write_and_names_the_accepted_forms_otherwise() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda:1".parse(), Ok(DeviceChoice::Cuda(1)));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        let error = "gpu0".parse::<DeviceChoice>().unwrap_err();
        assert!(error.contains("auto, cpu or cuda:N"), "{error}");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_follows_cuda_availability_and_cpu_always_resolves() {
        assert_eq!(DeviceChoice::Cpu.resolve(), Ok(Device::Cpu));
        let expected = if Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        };
        assert_eq!(DeviceChoice::Auto.resolve(), Ok(expected));
    }

    #[test]
    fn a_missing_cuda_device_is_an_error_naming_it() {
        let error = DeviceChoice::Cuda(64).resolve().unwrap_err();
        assert!(error.contains("cuda:64"), "{error}");
    }
}
