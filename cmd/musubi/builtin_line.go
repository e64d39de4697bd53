package main

// The LINE Messaging API provider is built in.
import _ "github.com/musubi-hq/musubi/providers/line"
