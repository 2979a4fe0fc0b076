//! Every end-to-end test in one binary: one link of the AWS SDK, and one pool of test
//! threads across all of them (`make e2e` runs them six at a time, then the chaos smoke
//! item that stops and starts the API server, alone).
#![deny(warnings)]

mod admission;
mod adoption;
mod awsaccount;
mod baselines;
mod bench;
mod chaos;
mod chart;
mod crashes;
mod feed;
mod import;
mod inventory;
mod leader;
mod operator;
mod ownership;
mod permissionsets;
mod plan;
mod scale;
mod scale_bench;
mod subdomains;
mod validate;
