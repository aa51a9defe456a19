//! "Is this host port free?", asked before a pod that publishes it starts, so a taken port
//! is reported as exactly that (`127.0.0.1:7233 is already in use`) instead of a pod that
//! never turns healthy.

use std::net::{SocketAddr, TcpListener};

use super::{PodSpec, RuntimeError};

/// The first published port of `spec` that cannot be bound now, as a
/// [`RuntimeError::PortInUse`] (without the holder: the caller may know it).
pub(crate) fn check_free(spec: &PodSpec) -> Result<(), RuntimeError> {
    for m in &spec.ports {
        let addr = format!("{}:{}", m.host_ip, m.host_port);
        let Ok(sock) = addr.parse::<SocketAddr>() else { continue };
        if let Err(e) = TcpListener::bind(sock) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(RuntimeError::PortInUse { addr, by: None });
            }
        }
    }
    Ok(())
}

/// Recognises a Docker start error caused by a taken host port and names the port.
pub(crate) fn from_docker_message(spec: &PodSpec, message: &str) -> Option<RuntimeError> {
    let m = message.to_ascii_lowercase();
    if !(m.contains("port is already allocated") || m.contains("address already in use")) {
        return None;
    }
    let port = spec.ports.iter().find(|p| m.contains(&format!(":{}", p.host_port))).or(spec.ports.first())?;
    Some(RuntimeError::PortInUse { addr: format!("{}:{}", port.host_ip, port.host_port), by: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PortMapping;

    fn spec(port: u16) -> PodSpec {
        PodSpec {
            name: "engine".into(),
            image: "i".into(),
            environment: Default::default(),
            ports: vec![PortMapping { host_ip: "127.0.0.1".into(), host_port: port, container_port: 7233 }],
            volumes: vec![],
            healthcheck: None,
            depends_on: vec![],
            user: None,
            read_only: true,
            profiles: Vec::new(),
        }
    }

    #[test]
    fn a_bound_port_is_named_exactly() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = check_free(&spec(port)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("127.0.0.1:{port} is already in use")), "{e}");
        drop(taken);
        check_free(&spec(port)).expect("free again");
    }

    #[test]
    fn docker_bind_errors_are_recognised() {
        let msg = "driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:7233 failed: port is already allocated";
        let e = from_docker_message(&spec(7233), msg).unwrap().to_string();
        assert!(e.starts_with("127.0.0.1:7233 is already in use"), "{e}");
        assert!(from_docker_message(&spec(7233), "no such image").is_none());
    }
}
