//! The open lists of methods and backbones. Each CLI starts from [`Registry::core`] and
//! adds what its crate brings; a crate adds a method or a backbone without editing
//! ssl-core. A method's own settings are a typed options table (`[model.options]` in a
//! config file), checked when a config is read: a key the method does not use is an error.
use crate::blocks::{Backbone, BackboneConfig, MemoryBank, Mlp, MlpConfig, MomentumSchedule, MomentumTarget, Online, ResNet, SmallConvNet};
use crate::method::Method;
use anyhow::{anyhow, bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tch::nn;

/// A method's own settings: a serde table with defaults that rejects unknown keys
/// (`#[serde(deny_unknown_fields, default)]`).
pub trait MethodOptions: Serialize + DeserializeOwned + Default + 'static {
    /// Checks every setting against its valid range, naming the key.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// Settings shared by the Siamese methods, with the options table of the chosen method
/// (the `[model]` table of a config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MethodConfig {
    /// The encoder (the `[model.backbone]` table).
    pub backbone: BackboneConfig,
    /// Hidden width of the projector heads, 1 to 65536.
    pub projector_hidden: i64,
    /// Output width of the projector, 1 to 65536.
    pub projector_dim: i64,
    /// Hidden width of the predictor (BYOL, MoCo v3), 1 to 65536.
    pub predictor_hidden: i64,
    /// The method's own settings (`ssl-vision methods` lists each method's keys and
    /// defaults); keys left out take the method's defaults.
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl Default for MethodConfig {
    fn default() -> Self {
        Self { backbone: BackboneConfig::default(), projector_hidden: 512, projector_dim: 128, predictor_hidden: 512, options: Default::default() }
    }
}

impl MethodConfig {
    /// Checks the shared widths (1 to 65536) and the backbone configuration.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("projector_hidden", self.projector_hidden), ("projector_dim", self.projector_dim), ("predictor_hidden", self.predictor_hidden)] {
            if !(1..=65_536).contains(&v) {
                bail!("model.{name} must be between 1 and 65536, got {v}");
            }
        }
        self.backbone.validate()
    }

    /// The same configuration with the backbone `backbone`.
    pub fn with_backbone(self, backbone: BackboneConfig) -> Self {
        Self { backbone, ..self }
    }

    /// The same with projector (hidden, output) and predictor hidden widths.
    pub fn with_heads(self, projector_hidden: i64, projector_dim: i64, predictor_hidden: i64) -> Self {
        Self { projector_hidden, projector_dim, predictor_hidden, ..self }
    }

    /// The same configuration with one option set (e.g. `("temperature", 0.5)`).
    pub fn with_option(mut self, key: &str, value: impl Serialize) -> Self {
        self.options.insert(key.to_string(), serde_json::to_value(value).unwrap_or(serde_json::Value::Null));
        self
    }
}

/// What a method's builder gets: where its variables live, the shared settings, and the
/// backbones it may build.
pub struct BuildContext<'a> {
    /// The store the method's variables are created in.
    pub vs: &'a nn::VarStore,
    /// The shared settings, with the method's options table.
    pub model: &'a MethodConfig,
    /// The registered backbones the method may build.
    pub backbones: &'a [BackboneSpec],
}

impl BuildContext<'_> {
    /// The root path of `vs`.
    pub fn root(&self) -> nn::Path<'_> {
        self.vs.root()
    }

    /// The configured backbone under `path`.
    pub fn backbone(&self, path: &nn::Path) -> Result<Box<dyn Backbone>> {
        build_backbone(self.backbones, path, &self.model.backbone)
    }

    /// The online branch: `backbone.*` and `projector.*` under the root.
    pub fn online(&self, projector: MlpConfig) -> Result<Online> {
        let root = self.root();
        Ok(Online::new(&root, self.backbone(&(&root / "backbone"))?, projector))
    }

    /// An EMA copy of the online branch (same names, its own store).
    pub fn momentum_online(&self, projector: MlpConfig, schedule: MomentumSchedule) -> Result<MomentumTarget<Online>> {
        MomentumTarget::new(self.vs, schedule, |root| {
            Ok(Online::new(root, build_backbone(self.backbones, &(root / "backbone"), &self.model.backbone)?, projector))
        })
    }

    /// A head called `name` under the root.
    pub fn mlp(&self, name: &str, in_dim: i64, cfg: MlpConfig) -> Mlp {
        Mlp::new(&(self.root() / name), in_dim, cfg)
    }

    /// A memory bank of `size` keys of the projection width.
    pub fn memory_bank(&self, name: &str, size: i64) -> Result<MemoryBank> {
        MemoryBank::new(name, size, self.model.projector_dim, self.vs.device())
    }
}

type BuildFn = Box<dyn Fn(&BuildContext, &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Method>> + Send + Sync>;

/// A registered method: its name, a one-line summary, its options and its builder.
pub struct MethodSpec {
    /// Registry name, as configs and CLIs give it (e.g. `simclr`).
    pub name: &'static str,
    /// One-line description for `methods` listings.
    pub summary: &'static str,
    /// Whether its loss decomposes per view (so a view reduction such as UOTA applies).
    pub per_view: bool,
    /// Local (multi-crop) views a run gets unless its config says otherwise: part of the
    /// method's recipe (SwAV: 2 global + 6 local).
    pub default_local_views: usize,
    defaults: fn() -> serde_json::Value,
    check: fn(&str, &serde_json::Map<String, serde_json::Value>) -> Result<()>,
    build: BuildFn,
}

fn parse_options<C: MethodOptions>(method: &str, given: &serde_json::Map<String, serde_json::Value>) -> Result<C> {
    let c: C = serde_json::from_value(serde_json::Value::Object(given.clone())).map_err(|e| {
        let keys = serde_json::to_value(C::default()).ok().and_then(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())).unwrap_or_default();
        let known = if keys.is_empty() { "it has no options".to_string() } else { format!("its options are {}", keys.join(", ")) };
        anyhow!("model.options: {e} for method '{method}' ({known})")
    })?;
    c.validate().with_context(|| format!("model.options of method '{method}'"))?;
    Ok(c)
}

fn defaults_of<C: MethodOptions>() -> serde_json::Value {
    serde_json::to_value(C::default()).unwrap_or_default()
}

fn check_of<C: MethodOptions>(method: &str, given: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    parse_options::<C>(method, given).map(|_| ())
}

impl MethodSpec {
    /// A method whose builder takes its typed options `C`.
    pub fn new<C: MethodOptions>(name: &'static str, summary: &'static str, per_view: bool, build: fn(&BuildContext, C) -> Result<Box<dyn Method>>) -> Self {
        Self {
            name,
            summary,
            per_view,
            default_local_views: 0,
            defaults: defaults_of::<C>,
            check: check_of::<C>,
            build: Box::new(move |ctx, given| build(ctx, parse_options::<C>(name, given)?)),
        }
    }

    /// The same method with `n` local views by default.
    pub fn with_default_local_views(mut self, n: usize) -> Self {
        self.default_local_views = n;
        self
    }

    /// The options table with every default.
    pub fn default_options(&self) -> serde_json::Value {
        (self.defaults)()
    }

    /// Checks an options table: known keys, valid values.
    pub fn check_options(&self, given: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        (self.check)(self.name, given)
    }
}

type BackboneBuildFn = fn(&nn::Path, &BackboneConfig) -> Result<Box<dyn Backbone>>;

/// A registered backbone.
pub struct BackboneSpec {
    /// Registry name, the `kind` of a [`BackboneConfig`] (e.g. `resnet18`).
    pub name: &'static str,
    /// One-line description for `methods` listings.
    pub summary: &'static str,
    /// The smallest input side it accepts (after its downsampling).
    pub min_input: usize,
    /// Builds the backbone under a path from its configuration.
    pub build: BackboneBuildFn,
}

/// Builds the backbone `cfg.kind` from `specs` under `path`.
pub fn build_backbone(specs: &[BackboneSpec], path: &nn::Path, cfg: &BackboneConfig) -> Result<Box<dyn Backbone>> {
    cfg.validate()?;
    (find(specs, &cfg.kind, "backbone", |s| s.name)?.build)(path, cfg)
}

fn find<'a, T>(specs: &'a [T], name: &str, what: &str, name_of: impl Fn(&T) -> &str) -> Result<&'a T> {
    match specs.iter().find(|s| name_of(s) == name) {
        Some(s) => Ok(s),
        None => {
            let known: Vec<&str> = specs.iter().map(&name_of).collect();
            bail!("unknown {what} '{name}'; available: {}", known.join(", "))
        }
    }
}

/// The methods and backbones a program can use.
#[derive(Default)]
pub struct Registry {
    methods: Vec<MethodSpec>,
    backbones: Vec<BackboneSpec>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every method and backbone of ssl-core, in the order of the objectives table.
    pub fn core() -> Self {
        let mut r = Self::new();
        for spec in crate::methods::core_methods() {
            r.methods.push(spec);
        }
        r.backbones = core_backbones();
        r
    }

    /// Adds a method; its name must be new.
    pub fn register_method(&mut self, spec: MethodSpec) -> Result<()> {
        if self.methods.iter().any(|m| m.name == spec.name) {
            bail!("a method called '{}' is already registered", spec.name);
        }
        self.methods.push(spec);
        Ok(())
    }

    /// Adds a backbone; its name must be new.
    pub fn register_backbone(&mut self, spec: BackboneSpec) -> Result<()> {
        if self.backbones.iter().any(|b| b.name == spec.name) {
            bail!("a backbone called '{}' is already registered", spec.name);
        }
        self.backbones.push(spec);
        Ok(())
    }

    /// The registered methods, in registration order.
    pub fn methods(&self) -> &[MethodSpec] {
        &self.methods
    }

    /// The registered backbones, in registration order.
    pub fn backbones(&self) -> &[BackboneSpec] {
        &self.backbones
    }

    /// The method called `name`, or an error listing the registered ones.
    pub fn method(&self, name: &str) -> Result<&MethodSpec> {
        find(&self.methods, name, "method", |s| s.name)
    }

    /// The backbone called `name`, or an error listing the registered ones.
    pub fn backbone(&self, name: &str) -> Result<&BackboneSpec> {
        find(&self.backbones, name, "backbone", |s| s.name)
    }

    /// Checks a method's configuration without building anything: the method and the
    /// backbone are registered, the shared sizes and the method's options are valid.
    pub fn check(&self, method: &str, cfg: &MethodConfig) -> Result<()> {
        let spec = self.method(method)?;
        self.backbone(&cfg.backbone.kind)?;
        cfg.validate()?;
        spec.check_options(&cfg.options)
    }

    /// Builds the method called `name` with its networks in `vs`.
    pub fn build_method(&self, name: &str, vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
        self.check(name, cfg)?;
        let spec = self.method(name)?;
        (spec.build)(&BuildContext { vs, model: cfg, backbones: &self.backbones }, &cfg.options)
    }

    /// Builds the backbone `cfg.kind` under `path`.
    pub fn build_backbone(&self, path: &nn::Path, cfg: &BackboneConfig) -> Result<Box<dyn Backbone>> {
        build_backbone(&self.backbones, path, cfg)
    }

    /// One line per method (with its options and their defaults) and per backbone, for a
    /// CLI's `methods` command.
    pub fn listing(&self) -> String {
        let mut out = String::from("methods:\n");
        for m in &self.methods {
            let opts = crate::config::settings_line(&m.default_options());
            let mut note = if m.per_view { String::new() } else { " (no per-view loss: UOTA not applicable)".to_string() };
            if m.default_local_views > 0 {
                note += &format!(" (multi-crop: {} local views by default)", m.default_local_views);
            }
            out += &format!("  {:<14} {}{note}\n", m.name, m.summary);
            out += &format!("  {:<14}   [model.options] {opts}\n", "");
        }
        out += "backbones:\n";
        for b in &self.backbones {
            out += &format!("  {:<14} {}\n", b.name, b.summary);
        }
        out
    }
}

/// The backbones of ssl-core.
pub fn core_backbones() -> Vec<BackboneSpec> {
    vec![
        BackboneSpec {
            name: "resnet18",
            summary: "ResNet-18 with torchvision's names (small_image_stem for 32 px inputs)",
            min_input: 8,
            build: |p, c| Ok(Box::new(ResNet::new(p, [2, 2, 2, 2], c.in_channels, c.small_image_stem))),
        },
        BackboneSpec {
            name: "resnet34",
            summary: "ResNet-34 with torchvision's names",
            min_input: 8,
            build: |p, c| Ok(Box::new(ResNet::new(p, [3, 4, 6, 3], c.in_channels, c.small_image_stem))),
        },
        BackboneSpec {
            name: "small-convnet",
            summary: "conv-BN-ReLU stages (default three) of width w, 2w, 4w, ... with 2x2 max-pooling between: fast on CPU for small images",
            min_input: 4,
            build: |p, c| Ok(Box::new(SmallConvNet::new(p, c.in_channels, c.width, c.stages))),
        },
    ]
}

/// Options of a method that has none: any key is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

impl MethodOptions for NoOptions {}
