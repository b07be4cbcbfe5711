//! PyPI: being written (task A).
