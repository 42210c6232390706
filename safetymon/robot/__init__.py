"""Robot state input: messages, kinematics, floor-frame capsules, receivers and a simulator.

Import the submodules directly (``safetymon.robot.store``, ``...receiver``, ``...sim``); this
package module imports nothing so that light users do not load ZeroMQ or pytransform3d.
"""
