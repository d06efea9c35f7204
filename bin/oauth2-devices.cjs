#!/usr/bin/env node
// The oauth2-devices command. The package runs from its TypeScript sources through tsx.
'use strict';
require('tsx/cjs');
require('../src/cli/main.ts');
