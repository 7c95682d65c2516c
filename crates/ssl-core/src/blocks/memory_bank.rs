//! A FIFO memory bank of unit-norm keys (MoCo's queue, SwAV's feature queue): keys of a
//! step are pushed while its loss is computed and enter the bank after the optimiser step,
//! because the backward pass still reads the bank as it was.
use crate::objectives::l2_normalize;
use anyhow::{bail, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

/// A FIFO queue of `K` unit-norm keys of width `D`; pushed keys enter it at [`MemoryBank::flush`].
#[derive(Debug)]
pub struct MemoryBank {
    name: String,
    keys: Tensor,
    ptr: Cell<i64>,
    pending: RefCell<Vec<Tensor>>,
}

impl MemoryBank {
    /// `size` random unit keys of width `dim` (the official MoCo start), stored in
    /// checkpoints as `<name>` and `<name>_ptr`.
    pub fn new(name: &str, size: i64, dim: i64, device: Device) -> Result<Self> {
        if !(1..=10_000_000).contains(&size) || dim < 1 {
            bail!("{name}: the memory bank needs 1 to 1e7 keys of positive width (got {size} x {dim})");
        }
        let keys = l2_normalize(&Tensor::randn([size, dim], (Kind::Float, device)));
        Ok(Self { name: name.to_string(), keys, ptr: Cell::new(0), pending: RefCell::new(Vec::new()) })
    }

    /// The keys `[K, D]` as they were before this step.
    pub fn keys(&self) -> &Tensor {
        &self.keys
    }

    /// Queues `keys` `[n, D]` to enter after the step ([`MemoryBank::flush`] normalises them).
    pub fn push(&self, keys: &Tensor) {
        self.pending.borrow_mut().push(keys.detach());
    }

    /// Moves the pushed keys into the bank, oldest first, overwriting the oldest entries.
    pub fn flush(&self) {
        let k = self.keys.size()[0];
        for keys in self.pending.borrow_mut().drain(..) {
            let keys = l2_normalize(&keys).to_kind(self.keys.kind());
            tch::no_grad(|| {
                for i in 0..keys.size()[0] {
                    let ptr = self.ptr.get();
                    self.keys.get(ptr).copy_(&keys.get(i));
                    self.ptr.set((ptr + 1) % k);
                }
            });
        }
    }

    /// Checkpoint entries: the keys as `<name>` and the write position as `<name>_ptr`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        vec![(self.name.clone(), self.keys.shallow_clone()), (format!("{}_ptr", self.name), Tensor::from(self.ptr.get()))]
    }

    /// Restores the entries written by [`MemoryBank::state`] (position 0 when `<name>_ptr` is absent).
    pub fn load_state(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        let mut keys = HashMap::new();
        keys.insert(self.name.clone(), self.keys.shallow_clone());
        crate::method::restore_named(&self.name, &keys, state)?;
        let k = self.keys.size()[0];
        let ptr = match state.get(&format!("{}_ptr", self.name)) {
            Some(t) => t.f_int64_value(&[])?,
            None => 0,
        };
        if !(0..k).contains(&ptr) {
            bail!("{}: checkpoint pointer {ptr} is outside the bank of {k} keys", self.name);
        }
        self.ptr.set(ptr);
        Ok(())
    }
}
