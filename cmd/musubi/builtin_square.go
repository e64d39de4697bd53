package main

// The Square provider registers itself as provider type "square".
import _ "github.com/musubi-hq/musubi/providers/square"
