// Package providerpb holds the Go code generated from provider.proto, the gRPC protocol
// between Musubi and provider plugins. Edit the .proto file and run go generate; never edit
// the generated files.
package providerpb

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative providers/plugin/proto/provider.proto
