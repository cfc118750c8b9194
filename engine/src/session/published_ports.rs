//! `published_ports(attrs)`: the host ports a compose service publishes, as `protocol:port`
//! text (`tcp:8080`), from its normalized `ports` attribute, so a declared service can be
//! joined to the host's listening sockets (`identity_links` rule `compose_published_port`).

use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::json_text_list;

/// A published range longer than this is not expanded: it is a port pool, not a service's
/// identity, and expanding it would multiply the join.
const LONGEST_EXPANDED_RANGE: u64 = 64;

/// The UDF; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PublishedPorts {
    signature: Signature,
}

impl Default for PublishedPorts {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

/// `protocol:port` for each host port `attrs.ports[*]` publishes.
pub fn published_ports(attrs: &Value) -> Vec<String> {
    let Some(ports) = attrs.get("ports").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut published = Vec::new();
    for port in ports {
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("tcp")
            .to_ascii_lowercase();
        let range = match port.get("published") {
            Some(Value::Number(number)) => number.as_u64().map(|port| (port, port)),
            Some(Value::String(text)) => match text.split_once('-') {
                Some((first, last)) => first.trim().parse().ok().zip(last.trim().parse().ok()),
                None => text.trim().parse().ok().map(|port| (port, port)),
            },
            _ => None,
        };
        if let Some((first, last)) = range {
            if first <= last && last - first < LONGEST_EXPANDED_RANGE {
                published.extend((first..=last).map(|port| format!("{protocol}:{port}")));
            }
        }
    }
    published
}

impl ScalarUDFImpl for PublishedPorts {
    fn name(&self) -> &str {
        "published_ports"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(json_text_list::list_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        json_text_list::map_rows(&args.args, published_ports)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::published_ports;

    #[test]
    fn published_ports_with_protocols_and_short_ranges() {
        let attrs = json!({"ports": [
            {"target": 80, "published": 8080, "protocol": "tcp", "host_ip": null},
            {"target": 53, "published": "5353", "protocol": "udp", "host_ip": "127.0.0.1"},
            {"target": 9000, "published": "9000-9002", "protocol": "tcp", "host_ip": null},
            {"target": 3000, "published": null, "protocol": "tcp", "host_ip": null},
            {"target": 1, "published": "10000-20000", "protocol": "tcp", "host_ip": null}
        ]});
        assert_eq!(
            published_ports(&attrs),
            ["tcp:8080", "udp:5353", "tcp:9000", "tcp:9001", "tcp:9002"]
        );
        assert!(published_ports(&json!({"image": "nginx"})).is_empty());
    }
}
