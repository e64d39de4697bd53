package main

// The Smaregi POS provider registers itself as provider type "smaregi".
import _ "github.com/musubi-hq/musubi/providers/smaregi"
