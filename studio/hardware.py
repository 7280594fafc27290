"""Former home of the GPU doctor, now split into studio.gpus (what the machine has), studio.planning
(which memory plan fits) and studio.doctor (the report).

Only the two names that the CLI, the service and the System tab import from here are kept; import
them from studio.doctor instead. This module goes once those imports have moved.
"""

from .doctor import doctor_report, format_report

__all__ = ["doctor_report", "format_report"]
