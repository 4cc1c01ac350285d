// Bare-node baseline for bench_sandbox's cold start: require the handler
// module from the current directory, check the export, say so on stdout.
'use strict';
const [file, fn] = process.argv[2].split('.');
const mod = require(require('path').resolve(file));
if (typeof mod[fn] !== 'function') process.exit(1);
process.stdout.write('1');
setInterval(() => {}, 1000); // like an instance, it stays up: the bench kills it
