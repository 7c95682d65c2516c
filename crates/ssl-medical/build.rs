//! Executables of this crate (its tests, and the CLI where it has one) find libtorch
//! through an rpath: see the `ssl-link` crate.
fn main() {
    ssl_link::libtorch();
}
