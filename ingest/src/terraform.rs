//! What the Terraform sources (state, plan, HCL) share: addresses, sensitive-value redaction
//! and the mapping from Terraform resource types to live identities.
