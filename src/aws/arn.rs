//! ARNs as SageMaker forms them. SageMaker lowercases the resource name inside the ARN
//! (`model/MyModel` becomes `model/mymodel`), which is also why names are unique regardless of case.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// `model/name`, `role/SageMakerRole`, `log-group:name:*` ...
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// For `type/name` resources: the type and the name.
    pub fn typed_resource(&self) -> Option<(&'a str, &'a str)> {
        self.resource.split_once('/')
    }
}

pub fn sagemaker(region: &str, account: &str, resource_type: &str, name: &str) -> String {
    format!(
        "arn:aws:sagemaker:{region}:{account}:{resource_type}/{}",
        name.to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sagemaker_arns_lowercase_the_name_and_parse_back() {
        let a = sagemaker("us-east-1", "000000000000", "endpoint-config", "My-Config");
        assert_eq!(
            a,
            "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/my-config"
        );
        let p = Arn::parse(&a).unwrap();
        assert_eq!(p.service, "sagemaker");
        assert_eq!(p.typed_resource(), Some(("endpoint-config", "my-config")));
        assert!(Arn::parse("not-an-arn").is_none());
    }
}
