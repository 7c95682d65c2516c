//! The test executables find libtorch through an rpath: see the `ssl-link` crate.
fn main() {
    ssl_link::libtorch();
}
