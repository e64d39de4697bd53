package main

import _ "github.com/musubi-hq/musubi/providers/webhook" // provider "webhook": signed JSON to any endpoint
