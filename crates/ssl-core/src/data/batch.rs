//! A batch that says what it holds: views of the same samples (possibly at several
//! resolutions, as in multi-crop) plus named parts such as labels, pixel weights, masks,
//! token ids or a second modality. Every tensor has the samples along dim 0.
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use tch::{Device, Tensor};

/// The part name of class labels (`[N]`, int64).
pub const LABELS: &str = "labels";
/// The part name of per-element loss weights (e.g. DESOM's pixel weights, 1 good, 0 bad).
pub const WEIGHTS: &str = "weights";

/// Views of `size` samples plus named parts, every tensor with the samples along dim 0.
#[derive(Debug)]
pub struct Batch {
    views: Vec<Tensor>,
    parts: BTreeMap<String, Tensor>,
    size: i64,
}

impl Batch {
    /// A batch of the views of `views[0].size()[0]` samples; every view must hold that
    /// many samples (their other dimensions may differ).
    pub fn from_views(views: Vec<Tensor>) -> Result<Self> {
        let Some(first) = views.first() else { bail!("a batch needs at least one view") };
        let size = *first.size().first().unwrap_or(&0);
        let mut b = Self { views: Vec::new(), parts: BTreeMap::new(), size };
        for v in views {
            b = b.with_view(v)?;
        }
        Ok(b)
    }

    /// A batch of `size` samples with no views yet (for data that are only named parts).
    pub fn empty(size: i64) -> Self {
        Self { views: Vec::new(), parts: BTreeMap::new(), size }
    }

    /// Adds a view.
    pub fn with_view(mut self, view: Tensor) -> Result<Self> {
        self.check_rows("view", &view)?;
        self.views.push(view);
        Ok(self)
    }

    /// Adds (or replaces) the part `name`.
    pub fn with(mut self, name: &str, part: Tensor) -> Result<Self> {
        self.check_rows(name, &part)?;
        self.parts.insert(name.to_string(), part);
        Ok(self)
    }

    fn check_rows(&self, what: &str, t: &Tensor) -> Result<()> {
        let rows = t.size().first().copied();
        if rows != Some(self.size) {
            bail!("batch: {what} has {} samples along dim 0, the batch has {}", rows.map_or("no".to_string(), |r| r.to_string()), self.size);
        }
        Ok(())
    }

    /// Samples in the batch.
    pub fn size(&self) -> i64 {
        self.size
    }

    /// The views, in the order they were added.
    pub fn views(&self) -> &[Tensor] {
        &self.views
    }

    /// The views, checking that there are at least `min` of them (naming the method).
    pub fn views_at_least(&self, method: &str, min: usize) -> Result<&[Tensor]> {
        if self.views.len() < min {
            bail!("{method} takes at least {min} views per sample, got {}", self.views.len());
        }
        Ok(&self.views)
    }

    /// Leading views at the resolution of the first one: the global views of multi-crop
    /// (all views when they share one size).
    pub fn global_views(&self) -> usize {
        let Some(first) = self.views.first() else { return 0 };
        self.views.iter().take_while(|v| v.size() == first.size()).count()
    }

    /// The part `name`, or an error naming the parts the batch has.
    pub fn part(&self, name: &str) -> Result<&Tensor> {
        match self.parts.get(name) {
            Some(t) => Ok(t),
            None => {
                let have: Vec<&str> = self.parts.keys().map(String::as_str).collect();
                bail!("the batch has no '{name}' (it has: {})", if have.is_empty() { "no named parts".to_string() } else { have.join(", ") })
            }
        }
    }

    /// The part `name`, or `None` when the batch has no such part.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.parts.get(name)
    }

    /// Names of the named parts, in sorted order.
    pub fn part_names(&self) -> impl Iterator<Item = &str> {
        self.parts.keys().map(String::as_str)
    }

    /// Class labels (the [`LABELS`] part).
    pub fn labels(&self) -> Result<&Tensor> {
        self.part(LABELS)
    }

    /// The same batch on `device` (a no-op for tensors already there).
    pub fn to_device(&self, device: Device) -> Batch {
        Batch {
            views: self.views.iter().map(|v| v.to_device(device)).collect(),
            parts: self.parts.iter().map(|(k, v)| (k.clone(), v.to_device(device))).collect(),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn parts_are_found_by_name_and_must_match_the_batch_size() {
        let x = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
        let small = Tensor::zeros([4, 1, 2, 2], (Kind::Float, Device::Cpu));
        let b = Batch::from_views(vec![x.copy(), x.copy(), small]).unwrap().with(WEIGHTS, x.ones_like()).unwrap();
        assert_eq!((b.size(), b.views().len(), b.global_views()), (4, 3, 2));
        assert_eq!(b.part(WEIGHTS).unwrap().size(), [4, 3]);
        let err = b.part("mask").unwrap_err().to_string();
        assert!(err.contains("mask") && err.contains("weights"), "{err}");
        let wrong = Tensor::zeros([5], (Kind::Float, Device::Cpu));
        let err = Batch::from_views(vec![x.copy()]).unwrap().with(LABELS, wrong).unwrap_err().to_string();
        assert!(err.contains("labels") && err.contains('5') && err.contains('4'), "{err}");
        assert!(Batch::from_views(vec![]).is_err());
        assert!(b.views_at_least("simclr", 4).is_err());
    }
}
