//! # ssl-medical
//!
//! Self-supervised learning on medical volumes, on `ssl-core`'s seams. Volumes come in as
//! NIfTI-1 (`.nii`, `.nii.gz`, placed by the sform / qform / pixdim rules) and DICOM series
//! (CT, MR: rescaled to modality units, slices ordered by position), each as a
//! [`volume::Volume`] (a `[Z, Y, X]` tensor and its voxel-to-world affine in RAS+
//! millimetres); [`preprocess`] resamples and windows them, [`phantom`] generates abdominal
//! CTs with exact organ masks, [`augment`] and [`sampling`] make training samples, and
//! [`bt_unet`] pre-trains a U-Net's encoder ([`unet`]) with Barlow Twins before fine-tuning
//! it for segmentation ([`segmentation`]).
//!
//! ```
//! use ssl_medical::preprocess::{resample_to_spacing, Interpolation};
//! use ssl_medical::volume::{Affine, Volume};
//! use tch::{Kind, Tensor};
//!
//! // A 4 x 6 x 8 grid of 2 mm voxels, resampled to 1 mm.
//! let data = Tensor::arange(192, (Kind::Float, tch::Device::Cpu)).view([4, 6, 8]);
//! let volume = Volume::new(data, Affine::scaling([2.0, 2.0, 2.0]), "example".as_ref())?;
//! let fine = resample_to_spacing(&volume, [1.0, 1.0, 1.0], Interpolation::Linear)?;
//! assert_eq!(fine.shape(), [8, 12, 16]);
//! assert_eq!(fine.spacing(), [1.0, 1.0, 1.0]);
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! No cargo features: `nifti` and the `dicom-rs` crates are pure Rust. Executables find
//! libtorch through the `ssl-link` crate.
#![warn(missing_docs)]

pub mod augment;
pub mod bt_unet;
pub mod colin27;
pub mod io;
pub mod localisation;
pub mod overlay;
pub mod phantom;
pub mod preprocess;
pub mod registry;
pub mod sampling;
pub mod segmentation;
pub mod unet;
pub mod volume;
