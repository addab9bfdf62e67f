/**
 * An HD44780 character LCD controller as the panel wires it (RS, E and DB4-DB7; RW tied to ground), decoded
 * from the levels of its pins: an instruction or a character is taken when E falls. After power-on the
 * controller is in 8-bit mode (each E pulse is a whole instruction, DB0-DB3 read as 0) until a function set
 * switches it to 4-bit mode, where two pulses make one byte, high nibble first. Display RAM holds 40
 * characters per line; a 16x2 module shows addresses 0x00-0x0F and 0x40-0x4F.
 */
const LCD_COLUMNS = 16;
const LINE_LENGTH = 40;
const LINE_2 = 0x40;

export class Hd44780 {
  private readonly ram = [new Array<number>(LINE_LENGTH).fill(0x20), new Array<number>(LINE_LENGTH).fill(0x20)];
  private fourBit = false;
  private high: number | null = null;
  private address = 0;
  private increment = true;
  private displayOn = false;
  /** Characters written to display RAM since power-on. */
  charactersWritten = 0;
  /** Instructions executed since power-on. */
  instructions = 0;

  /** The two lines as a 16x2 module shows them (empty while the display is off). */
  lines(columns = LCD_COLUMNS): [string, string] {
    if (!this.displayOn) return [' '.repeat(columns), ' '.repeat(columns)];
    const line = (row: number) => String.fromCharCode(...this.ram[row]!.slice(0, columns));
    return [line(0), line(1)];
  }

  get isFourBitMode(): boolean {
    return this.fourBit;
  }

  /** E fell with these levels on RS and DB4-DB7 (`data` bit 0 = DB4). */
  latch(rs: 0 | 1, data: number): void {
    const nibble = data & 0x0f;
    if (!this.fourBit) {
      this.execute(rs, nibble << 4);
      return;
    }
    if (this.high === null) {
      this.high = nibble;
      return;
    }
    const byte = (this.high << 4) | nibble;
    this.high = null;
    this.execute(rs, byte);
  }

  private execute(rs: 0 | 1, byte: number): void {
    if (rs === 1) {
      this.writeCharacter(byte);
      return;
    }
    this.instructions += 1;
    if (byte & 0x80) {
      // Set DDRAM address.
      const a = byte & 0x7f;
      this.address = a >= LINE_2 ? LINE_2 + ((a - LINE_2) % LINE_LENGTH) : a % LINE_LENGTH;
    } else if (byte & 0x40) {
      // Set CGRAM address: custom characters, not shown by this emulator.
    } else if (byte & 0x20) {
      // Function set: DL (bit 4) chooses the interface width; the next nibble starts a new byte.
      this.fourBit = (byte & 0x10) === 0;
      this.high = null;
    } else if (byte & 0x10) {
      // Cursor or display shift: not used by the panel.
    } else if (byte & 0x08) {
      this.displayOn = (byte & 0x04) !== 0;
    } else if (byte & 0x04) {
      this.increment = (byte & 0x02) !== 0;
    } else if (byte & 0x02) {
      this.address = 0;
    } else if (byte & 0x01) {
      for (const row of this.ram) row.fill(0x20);
      this.address = 0;
      this.increment = true;
    }
  }

  private writeCharacter(code: number): void {
    const row = this.address >= LINE_2 ? 1 : 0;
    const col = this.address - (row ? LINE_2 : 0);
    this.ram[row]![col] = code;
    this.charactersWritten += 1;
    // In two-line mode the address runs 0x00-0x27 then 0x40-0x67 and wraps from one line to the other.
    const linear = row * LINE_LENGTH + col + (this.increment ? 1 : -1);
    const wrapped = (linear + 2 * LINE_LENGTH) % (2 * LINE_LENGTH);
    this.address = wrapped >= LINE_LENGTH ? LINE_2 + wrapped - LINE_LENGTH : wrapped;
  }
}
