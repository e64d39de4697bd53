package main

import _ "github.com/musubi-hq/musubi/providers/email" // provider "email": SMTP and SendGrid
