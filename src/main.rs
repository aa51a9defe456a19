fn main() { println!("faultline: in progress"); }
