//! Encoders in and out of runs: exports by name, and loading a pre-trained encoder by
//! prefix into a larger model (a classifier, a U-Net) that has parts of its own.
use super::CheckpointDir;
use crate::method::Export;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Tensor};

/// Named tensors, as written to one safetensors file.
pub type NamedTensors = Vec<(String, Tensor)>;

/// The tensors of each export: the variables under `prefix.`, named without it. An
/// export that matches nothing is an error (it would write an empty file).
pub fn export_tensors(vs: &nn::VarStore, exports: &[Export]) -> Result<Vec<(String, NamedTensors)>> {
    let vars = vs.variables();
    let mut out = Vec::new();
    for e in exports {
        let dotted = format!("{}.", e.prefix);
        let mut tensors: Vec<(String, Tensor)> = vars.iter().filter_map(|(k, v)| k.strip_prefix(&dotted).map(|k| (k.to_string(), v.shallow_clone()))).collect();
        if tensors.is_empty() {
            bail!("export '{}': no variable is named '{dotted}...'", e.name);
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        out.push((e.name.clone(), tensors));
    }
    Ok(out)
}

/// Copies the tensors of `source` named `from<rest>` into the variables of `vs` named
/// `into<rest>`. Every variable under `into` must be filled with the right shape, and
/// every source tensor under `from` must find its variable; other variables of `vs`
/// (a new head) keep their values. Returns how many tensors were copied.
pub fn load_prefixed(vs: &nn::VarStore, source: &HashMap<String, Tensor>, from: &str, into: &str) -> Result<usize> {
    let vars = vs.variables();
    let targets: HashMap<&str, &Tensor> = vars.iter().filter_map(|(k, v)| k.strip_prefix(into).map(|rest| (rest, v))).collect();
    if targets.is_empty() {
        bail!("the model has no variable starting with '{into}'");
    }
    let mut copied = 0;
    let mut missing = Vec::new();
    for (rest, t) in &targets {
        match source.get(&format!("{from}{rest}")) {
            Some(src) if src.size() == t.size() => {
                tch::no_grad(|| t.shallow_clone().copy_(src));
                copied += 1;
            }
            Some(src) => bail!("'{from}{rest}' has shape {:?} in the source, '{into}{rest}' has {:?} in the model", src.size(), t.size()),
            None => missing.push(format!("{from}{rest}")),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        bail!("the source lacks {} tensor(s) the model's '{into}' part needs, e.g. {}", missing.len(), missing[0]);
    }
    let unused: Vec<&String> = source.keys().filter(|k| k.strip_prefix(from).is_some_and(|rest| !targets.contains_key(rest))).collect();
    if let Some(first) = unused.first() {
        bail!("{} source tensor(s) under '{from}' have no place in the model's '{into}' part, e.g. {first}", unused.len());
    }
    Ok(copied)
}

/// Loads the encoder exported as `<export>.safetensors` by the newest checkpoint of the run
/// in `run` into the variables of `vs` under `into` (e.g. `encoder.`).
pub fn load_encoder(run: &Path, export: &str, vs: &nn::VarStore, into: &str) -> Result<usize> {
    let ck =
        CheckpointDir::new(run.join("checkpoints"), 1).latest()?.with_context(|| format!("no checkpoint found under {}", run.join("checkpoints").display()))?;
    let path = ck.dir.join(format!("{export}.safetensors"));
    let tensors: HashMap<String, Tensor> =
        Tensor::read_safetensors(&path).with_context(|| format!("cannot read the exported encoder {}", path.display()))?.into_iter().collect();
    if let Some(name) = super::first_non_finite(tensors.iter()) {
        bail!("{}: '{name}' holds NaN or infinity", path.display());
    }
    load_prefixed(vs, &tensors, "", into).with_context(|| format!("cannot load {} into the model", path.display()))
}
