#!/bin/sh
echo hello from a script copied with --chmod
