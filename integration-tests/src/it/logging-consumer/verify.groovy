// Checks the consumer's console output (build.log): the library's WARN must be there, under its own logger name,
// and so must DL4J's own INFO lines. Both disappear when an SLF4J 2 API meets logback-classic 1.1.7.
def lines = new File(basedir, 'build.log').readLines()
def slf4j = lines.findAll { it.startsWith('SLF4J') }
def context = slf4j ? "\nSLF4J said:\n" + slf4j.join('\n') : ''

assert lines.any { it.startsWith('logging-consumer: done') } :
        'the consumer did not run to its end' + context
def warn = lines.find { it.contains('Skipped averaging update') }
assert warn != null : 'the library\'s WARN "Skipped averaging update" is missing from the output' + context
assert warn.startsWith('WARN') && warn.contains('io.github.dl4jema') :
        'the WARN line does not carry its level and the logger io.github.dl4jema: ' + warn
assert lines.any { it.startsWith('INFO') && it.contains('org.nd4j') } :
        'DL4J/ND4J\'s own INFO lines are missing from the output' + context
true
