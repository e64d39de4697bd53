// Package lang is Musubi's language: it loads a programme's HCL files (from a directory or a
// git ref), decodes its blocks into a typed Config (providers, identity sources, traits,
// segments, triggers, campaigns, policies), evaluates variables and functions, and compiles
// every CEL condition once against the declared types (customer, event, cart, campaign)
// under a cost limit. Problems are hcl.Diagnostics with source ranges. It also formats files
// (`musubi fmt`) and serves the console. lang calls no provider and touches no state: the
// planner, the engine and `musubi test` all run what it compiles. Package lang/rules turns a
// Config into the engine's rule bundle.
package lang
