fn main() {
    napi_build::setup();
    // The helper executable's file name carries the platform, as the
    // `.node` file's does (`scriptcage-helper.linux-x64-gnu`).
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x64",
        Ok("aarch64") => "arm64",
        Ok(other) => other,
        Err(_) => "unknown",
    }
    .to_string();
    println!("cargo:rustc-env=SCRIPTCAGE_ARCH={arch}");
}
