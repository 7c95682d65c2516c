fn main() {
    // Embeds an rpath to libtorch (found from LIBTORCH like torch-sys does) in our binary.
    ssl_link::libtorch();
}
