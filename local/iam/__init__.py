"""IAM for the local runtime: policy evaluation (`policies`), the template's roles and resource policies (`catalog`),
who calls as whom (`identities`), and what IAM action and resource an API call is (`requests`)."""
