"""The city simulator and load generator (``smartcity simulate``, docs/SIMULATOR.md).

Where things are: signals (:mod:`devices.drivers`, :mod:`devices.signals`), simulated time
(:mod:`devices.clock`), faults (:mod:`devices.faults`), commands (:mod:`devices.commands`), a device's reading
pipeline and the run context (:mod:`devices.device_core`), outgoing-message rules (:mod:`devices.outgoing`), the
MQTT 5 wire (:mod:`devices.mqtt5` codec, :mod:`devices.session` with :mod:`devices.session_errors` and
:mod:`devices.session_options`), device kinds (:mod:`devices.broadband` over :mod:`devices.broadband_publish`,
:mod:`devices.narrowband`, :mod:`devices.netserver`), what a run does (:mod:`devices.run_options`), one worker's
devices (:mod:`devices.fleet`) and their run (:mod:`devices.runner`), processes and signals
(:mod:`devices.workers`), counting (:mod:`devices.stats`) and its typed snapshots (:mod:`devices.snapshot`), load
mode for benchmarks (:mod:`devices.loadgen`), terminal output (:mod:`devices.view`) and the command itself
(:mod:`devices.cli`).
"""
