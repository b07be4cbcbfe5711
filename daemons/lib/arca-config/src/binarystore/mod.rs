//! `etc/binarystore.xml`: the chain of binary providers, in the reference's format.
//!
//! ```xml
//! <config version="2">
//!   <chain template="file-system"/>            <!-- or nested <provider id= type=> elements -->
//!   <provider id="file-system" type="file-system">  <!-- parameter block, matched by id -->
//!     <fileStoreDir>filestore</fileStoreDir>
//!     <property name="x" value="y"/>
//!   </provider>
//! </config>
//! ```
//!
//! Parsing checks the structure, every parameter name and every parameter value (with the
//! line and name of the parameter); parameters of the reference that arca does not use give a
//! warning. [`BinaryStoreConfig::plan`] (in `storage_plan`) turns the result into the storage a
//! node runs. [`seal_secrets`] seals plaintext `identity` / `credential` values in place.
//!
//! Four parts: [`parameters`] (the catalogue: templates, provider types, parameters and their
//! value forms), [`model`] (the types), [`analysis`] (reading and checking the file) and
//! [`sealing`] (sealing secrets in place). Every public item is re-exported here.

mod analysis;
mod model;
mod parameters;
mod sealing;

pub use analysis::MAX_CHAIN_DEPTH;
pub(crate) use analysis::{ParamView, analyse_home};
pub use model::{
    BinaryStoreConfig, ChainSpec, FileSystemLayout, ProviderNode, ProviderParams,
    RUNNABLE_TEMPLATE, template_chain,
};
pub use parameters::{
    KNOWN_PROVIDER_TYPES, KNOWN_TEMPLATES, MIN_MULTIPART_ELEMENT_SIZE, SEALED_PARAMS,
    known_parameters,
};
pub(crate) use parameters::{endpoint_is_http, parse_key_prefix};
pub use sealing::seal_secrets;
