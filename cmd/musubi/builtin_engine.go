package main

// The engine provider registers itself as provider type "engine": it pushes the programme's
// rule bundle to musubi serve.
import _ "github.com/musubi-hq/musubi/providers/engine"
