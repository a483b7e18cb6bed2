# SPDX-License-Identifier: MIT
"""awssim: a strict, fault-injecting AWS simulator for ecr-deployd's tests."""
