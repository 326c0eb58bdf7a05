"""The city simulator and load generator (``smartcity simulate``, docs/SIMULATOR.md).

Where things are: signals (:mod:`devices.drivers`, :mod:`devices.signals`), simulated time
(:mod:`devices.clock`), faults (:mod:`devices.faults`), commands (:mod:`devices.commands`), the MQTT 5 wire
(:mod:`devices.mqtt5`, :mod:`devices.session`), device kinds (:mod:`devices.broadband`,
:mod:`devices.narrowband`, :mod:`devices.netserver`), one worker's run (:mod:`devices.runner`), processes and
signals (:mod:`devices.workers`), load mode for benchmarks (:mod:`devices.loadgen`), terminal output
(:mod:`devices.view`) and the command itself (:mod:`devices.cli`).
"""
