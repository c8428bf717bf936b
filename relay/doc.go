// Package relay is the signaling relay (its websocket protocol arrives with
// the IO layer) and the server of the static page: StaticHandler serves
// static/ with the right types and precompressed copies of the module.
package relay
